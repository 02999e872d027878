"""Fetch the BIG-bench 1.0.0 release (the sdist of PyPI package ``bigbench``) for conformance tests and benchmarks.

``pip download --no-deps bigbench==1.0.0`` fetches the file but then fails preparing its metadata (it
declares a direct-URL dependency), so this script takes the sdist from PyPI's simple index itself and
unpacks what is asked for:

    python bench/fetch_bigbench.py DEST            # the reference code only (bigbench/api, model_utils)
    python bench/fetch_bigbench.py DEST --tasks    # plus all 1041 task.json files (1.8 GB unpacked)

DEST/bigbench-1.0.0/ is the result; the download is kept in DEST as a cache.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tarfile
import urllib.request

INDEX = "https://pypi.org/simple/bigbench/"
FILE = "bigbench-1.0.0.tar.gz"
SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"


def download(dest: str) -> str:
    path = os.path.join(dest, FILE)
    if os.path.exists(path) and _sha256(path) == SHA256:
        return path
    html = urllib.request.urlopen(INDEX, timeout=60).read().decode()
    match = re.search(rf'href="([^"]*/{re.escape(FILE)})#sha256={SHA256}"', html)
    if not match:
        sys.exit(f"{FILE} with sha256 {SHA256} not found on {INDEX}")
    tmp = path + ".part"
    with urllib.request.urlopen(match.group(1), timeout=300) as resp, open(tmp, "wb") as out:
        while chunk := resp.read(1 << 20):
            out.write(chunk)
    if _sha256(tmp) != SHA256:
        sys.exit("downloaded file has the wrong sha256")
    os.replace(tmp, path)
    return path


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def wanted(name: str, tasks: bool) -> bool:
    if re.fullmatch(r"bigbench-1\.0\.0/bigbench/(api/\w+\.py|models/model_utils\.py|__init__\.py|"
                    r"models/__init__\.py)", name):
        return True
    return tasks and name.startswith("bigbench-1.0.0/bigbench/benchmark_tasks/") and name.endswith("/task.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("--tasks", action="store_true", help="also unpack every task.json")
    args = parser.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    marker = os.path.join(args.dest, "bigbench-1.0.0", ".complete-tasks" if args.tasks else ".complete")
    if os.path.exists(marker):
        print(os.path.join(args.dest, "bigbench-1.0.0"))
        return
    archive = download(args.dest)
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar if m.isfile() and wanted(m.name, args.tasks)]
        tar.extractall(args.dest, members=members, filter="data")
    open(marker, "w").close()
    print(os.path.join(args.dest, "bigbench-1.0.0"))


if __name__ == "__main__":
    main()
