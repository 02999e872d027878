"""Examples for test-function tasks from JSON, JSONL or CSV files.

``load_examples(path)`` returns a list of dicts: a JSON list of objects, a BIG-bench task file (its
``examples``), one JSON object per line (JSONL), or CSV rows with a header. Bad files raise
:class:`~pytest_lmbench.core.errors.TaskFormatError` naming the file, the line or field, and the fix.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from pytest_lmbench.core.errors import TaskFormatError


def load_examples(path: str | os.PathLike[str], *, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The examples in ``path`` (``.json``, ``.jsonl``, ``.csv``), each a dict; ``required`` keys are checked."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise TaskFormatError(path, "(file)", "does not exist", "check the path (relative paths start at the "
                              "test file's directory when you use lmbench.data())")
    if ext == ".jsonl":
        rows = _jsonl(path)
    elif ext == ".json":
        rows = _json(path)
    elif ext == ".csv":
        rows = _csv(path)
    else:
        raise TaskFormatError(path, "(file)", f"has an unknown extension {ext!r}", "use .json, .jsonl or .csv")
    for i, row in enumerate(rows):
        missing = [k for k in required if k not in row]
        if missing:
            raise TaskFormatError(path, f"example {i}", f"has no {', '.join(repr(k) for k in missing)}",
                                  "add the field to every example")
    return rows


def _json(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise TaskFormatError(path, f"line {exc.lineno}", f"is not valid JSON ({exc.msg})", "fix the JSON") from None
    except UnicodeDecodeError:
        raise TaskFormatError(path, "(file)", "is not UTF-8 text", "save the file as UTF-8") from None
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        data = data["examples"]
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise TaskFormatError(path, "(top level)", "is not a list of objects (or a task with \"examples\")",
                              "write a JSON list of example objects")
    return data


def _jsonl(path: str) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskFormatError(path, f"line {lineno}", f"is not valid JSON ({exc.msg})",
                                      "put one JSON object per line") from None
            if not isinstance(row, dict):
                raise TaskFormatError(path, f"line {lineno}", "is not a JSON object", "put one object per line")
            rows.append(row)
    return rows


def _csv(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise TaskFormatError(path, "line 1", "has no header row", "start the file with the column names")
        rows = []
        for row in reader:
            if None in row:
                raise TaskFormatError(path, f"line {reader.line_num}", "has more cells than the header",
                                      "quote cells that contain commas")
            rows.append(dict(row))
    return rows
