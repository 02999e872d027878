"""Fetch the BIG-bench 1.0.0 release (the sdist of PyPI package ``bigbench``) for conformance tests and benchmarks.

``pip download --no-deps bigbench==1.0.0`` fetches the file but then fails preparing its metadata (it
declares a direct-URL dependency), so this script takes the sdist from PyPI's simple index itself and
unpacks what is asked for:

    python bench/fetch_bigbench.py DEST            # BIG-bench's code (bigbench/api, models, ...) and its 42
                                                   # programmatic tasks (task.py and their data, 130 MB)
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


TASKS = "bigbench-1.0.0/bigbench/benchmark_tasks/"


def programmatic_dirs(names: list[str]) -> set[str]:
    """The release's programmatic task directories: benchmark_tasks/NAME with a task.py and no task.json."""
    files = set(names)
    return {name[:-len("task.py")] for name in names
            if name.startswith(TASKS) and name.count("/") == TASKS.count("/") + 1 and name.endswith("/task.py")
            and name[:-len("task.py")] + "task.json" not in files}


def wanted(name: str, tasks: bool, programmatic: set[str]) -> bool:
    if name.startswith("bigbench-1.0.0/bigbench/") and not name.startswith(TASKS) and name.endswith(".py"):
        return True  # BIG-bench's own code: api/, models/, bbseqio/
    if name == TASKS + "__init__.py":
        return True
    directory = name[:name.index("/", len(TASKS)) + 1] if "/" in name[len(TASKS):] else ""
    if directory in programmatic and "/results/" not in name[len(directory) - 1:]:
        return True  # a programmatic task's code and data (not its recorded results of other models)
    return tasks and name.startswith(TASKS) and name.endswith("/task.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("--tasks", action="store_true", help="also unpack every task.json")
    args = parser.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    marker = os.path.join(args.dest, "bigbench-1.0.0", ".complete-2-tasks" if args.tasks else ".complete-2")
    if os.path.exists(marker):
        print(os.path.join(args.dest, "bigbench-1.0.0"))
        return
    archive = download(args.dest)
    with tarfile.open(archive, "r:gz") as tar:
        files = [m for m in tar if m.isfile()]
        programmatic = programmatic_dirs([m.name for m in files])
        members = [m for m in files if wanted(m.name, args.tasks, programmatic)]
        tar.extractall(args.dest, members=members, filter="data")
    open(marker, "w").close()
    print(os.path.join(args.dest, "bigbench-1.0.0"))


if __name__ == "__main__":
    main()
