"""Local HTTP servers that tests start on 127.0.0.1 and stop afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

SERVE = """
import runpy
from pytest_lmbench.core.models.llamacpp import _model_params, repack_info
off = repack_info("auto")["repack"] == "off"
with _model_params(**({"use_extra_bufts": False} if off else {})):
    runpy.run_module("llama_cpp.server", run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def llama_server(model_path: str, *, n_ctx: int = 512, threads: int = 2, timeout: float = 120.0) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` on a free local port; yields its ``/v1`` base URL."""
    port = free_port()
    # the server loads the model itself: on AMX CPUs with llama.cpp's weight repacking off (it crashes there,
    # llama.cpp #20824), as the in-process backend does, through the same override of its default parameters
    cmd = [sys.executable, "-c", SERVE, "--model", model_path, "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--logits_all", "true",
           "--model_alias", "smollm2", "--verbose", "false"]
    log = open(os.devnull, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {' '.join(cmd)}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start in time")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
