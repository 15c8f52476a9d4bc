"""Errors that reach the user: each names what went wrong and where."""

from __future__ import annotations


class StudioError(Exception):
    """Base for errors whose message is meant for the user as is."""


class InputError(StudioError):
    """Bad input data: names the file, the line (when known) and the problem."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class ProjectError(StudioError):
    """A project file that cannot be opened or used."""


class ModelError(StudioError):
    """A model folder that cannot be loaded."""
