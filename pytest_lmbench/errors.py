"""Error types whose messages are shown to users as they are, without a traceback."""

from __future__ import annotations


class LmbenchError(Exception):
    """Base class: an error whose message is complete and readable on its own."""


class TaskFormatError(LmbenchError):
    """A task file is malformed. Names the file, the field (or example index) and the fix."""

    def __init__(self, path: str, field: str | None, problem: str, fix: str | None = None) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " + (f"{field}: " if field else "")
        super().__init__(where + problem + (f" -- {fix}" if fix else ""))


class ConfigError(LmbenchError):
    """A command-line option, ini value or model spec is invalid."""


class BackendError(LmbenchError):
    """A model backend failed (load or request). Items hit by it are errors, not failures."""
