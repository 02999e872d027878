"""Fetch the BIG-bench 1.0.0 release (the sdist of PyPI package ``bigbench``) for conformance tests and benchmarks.

``pip download --no-deps bigbench==1.0.0`` fetches the file but then fails preparing its metadata (it
declares a direct-URL dependency), so this script takes the sdist from PyPI's simple index itself and
unpacks what is asked for:

    python bench/fetch_bigbench.py DEST            # BIG-bench's code (bigbench/api, models, ...) and its 42
                                                   # programmatic tasks (task.py and their data, 130 MB)
    python bench/fetch_bigbench.py DEST --tasks    # plus all 1041 task.json files (1.8 GB unpacked)
    python bench/fetch_bigbench.py DEST --from ~/Downloads/bigbench-1.0.0.tar.gz   # a copy you already have

DEST/bigbench-1.0.0/ is the result; the download is kept in DEST as a cache. Where the sources come from, in
order: ``$LMBENCH_BIGBENCH_SRC`` (an unpacked ``bigbench-1.0.0`` directory: nothing to fetch), ``--from`` or
``$LMBENCH_BIGBENCH_TARBALL`` (a local copy of the sdist, checked by its sha256), the copy cached in DEST, PyPI.

Since December 2026 the package index no longer serves ``bigbench==1.0.0`` (only 0.0.1). The download is still
tried every time (the file may be served again); when nothing gives the release, the script says so in one line
and exits 0, and the conformance tests compare with the reference recorded in
``tests/data/bigbench_reference.json`` (docs/json-tasks.md, "How conformance is checked"). ``--strict`` exits 1
instead.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tarfile
import urllib.error
import urllib.request

INDEX = "https://pypi.org/simple/bigbench/"
FILE = "bigbench-1.0.0.tar.gz"
SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
SRC_ENV = "LMBENCH_BIGBENCH_SRC"
TARBALL_ENV = "LMBENCH_BIGBENCH_TARBALL"


class NotFetched(Exception):
    """The release could not be had: the one line that says why."""


def download(dest: str, local: str | None = None) -> str:
    """The sdist's path: ``local`` (checked), else DEST's cached copy, else a download from PyPI into DEST."""
    if local:
        if not os.path.isfile(local):
            raise NotFetched(f"{local}: no such file (--from / ${TARBALL_ENV})")
        if _sha256(local) != SHA256:
            raise NotFetched(f"{local}: not BIG-bench 1.0.0's sdist (sha256 is not {SHA256})")
        return local
    path = os.path.join(dest, FILE)
    if os.path.exists(path) and _sha256(path) == SHA256:
        return path
    try:
        html = urllib.request.urlopen(INDEX, timeout=30).read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise NotFetched(f"{INDEX} could not be read ({exc.__class__.__name__}: {exc})") from None
    match = re.search(rf'href="([^"]*/{re.escape(FILE)})#sha256={SHA256}"', html)
    if not match:
        raise NotFetched(f"{INDEX} does not serve {FILE} (sha256 {SHA256[:12]}...)")
    tmp = path + ".part"
    try:
        with urllib.request.urlopen(match.group(1), timeout=300) as resp, open(tmp, "wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise NotFetched(f"{FILE} download failed ({exc.__class__.__name__}: {exc})") from None
    if _sha256(tmp) != SHA256:
        os.remove(tmp)
        raise NotFetched(f"the downloaded {FILE} has the wrong sha256")
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


def fetch(dest: str, tasks: bool = False, local: str | None = None) -> str:
    """Unpack the release into DEST/bigbench-1.0.0 (once) and return that directory; NotFetched says why not."""
    src = os.environ.get(SRC_ENV)
    if src:
        if not os.path.isfile(os.path.join(src, "bigbench", "api", "json_task.py")):
            raise NotFetched(f"${SRC_ENV}={src} is not an unpacked bigbench-1.0.0 (no bigbench/api/json_task.py)")
        return os.path.abspath(src)
    os.makedirs(dest, exist_ok=True)
    marker = os.path.join(dest, "bigbench-1.0.0", ".complete-2-tasks" if tasks else ".complete-2")
    if os.path.exists(marker):
        return os.path.join(dest, "bigbench-1.0.0")
    archive = download(dest, local or os.environ.get(TARBALL_ENV))
    with tarfile.open(archive, "r:gz") as tar:
        files = [m for m in tar if m.isfile()]
        programmatic = programmatic_dirs([m.name for m in files])
        members = [m for m in files if wanted(m.name, tasks, programmatic)]
        tar.extractall(dest, members=members, filter="data")
    open(marker, "w").close()
    return os.path.join(dest, "bigbench-1.0.0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("--tasks", action="store_true", help="also unpack every task.json")
    parser.add_argument("--from", dest="local", metavar="TARBALL",
                        help=f"a local copy of {FILE} (also ${TARBALL_ENV})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the release cannot be had")
    args = parser.parse_args(argv)
    try:
        print(fetch(args.dest, args.tasks, args.local))
    except NotFetched as exc:
        print(f"fetch_bigbench: BIG-bench 1.0.0 not fetched: {exc}; the conformance tests compare with the recorded "
              f"reference (tests/data/bigbench_reference.json); give a copy with --from TARBALL or ${SRC_ENV}",
              file=sys.stderr)
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
