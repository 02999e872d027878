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
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " + (f"{self.field}: " if self.field else "")
        return where + self.problem + (f" -- {self.fix}" if self.fix else "")


class ConfigError(LmbenchError):
    """A command-line option, ini value or model spec is invalid."""


class BackendError(LmbenchError):
    """A model backend failed (load or request). Items hit by it are errors, not failures."""
