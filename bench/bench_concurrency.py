"""API concurrency: requests per second through the openai: backend against a local OpenAI-compatible stub
server that answers every request after a fixed latency (default 100 ms), as concurrency grows.

The ideal is concurrency / latency (10 requests/s per request in flight at 100 ms).

Run:  python bench/bench_concurrency.py [--latency 0.1] [--max 64]
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pytest_lmbench.core.models.openai import OpenAIModel


def serve(latency: float) -> ThreadingHTTPServer:
    payload = json.dumps({"choices": [{"text": " Paris", "index": 0}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle's algorithm and the client's delayed
            # ACK add 40 ms to every response (real servers set it too)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 256
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--max", type=int, default=64)
    args = parser.parse_args()
    httpd = serve(args.latency)
    base = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    print(f"stub server latency {args.latency * 1000:.0f} ms")
    print("| concurrency | requests | wall | requests/s | ideal | efficiency |")
    print("|---|---|---|---|---|---|")
    level = 1
    while level <= args.max:
        model = OpenAIModel("stub", base_url=base, concurrency=level, check_echo=False)
        n = max(40, 8 * level)
        model.generate(["warm-up"] * level, max_tokens=4)  # open the connections
        start = time.perf_counter()
        model.generate([f"prompt {i}" for i in range(n)], max_tokens=4)
        wall = time.perf_counter() - start
        ideal = level / args.latency
        print(f"| {level} | {n} | {wall:.2f} s | {n / wall:.1f} | {ideal:.0f} | {n / wall / ideal:.0%} |", flush=True)
        model.close()
        level *= 2
    httpd.shutdown()


if __name__ == "__main__":
    main()
