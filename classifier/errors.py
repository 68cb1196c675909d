"""Domain errors of postcred.

The library raises these; the CLI turns each into one ``Error: ...`` line and a non-zero
exit code.  Every message names the file (and the line or record where there is one), what
is wrong, and where it helps, what to do next.
"""

from __future__ import annotations

from pathlib import Path


class PostcredError(Exception):
    """Base class of every error postcred reports to a user."""

    exit_code = 1


class InputError(PostcredError):
    """A dump (or another input file) cannot be read or parsed.

    Parameters
    ----------
    path:
        The file, or ``"-"`` for standard input.
    message:
        What is wrong, in one line.
    line, record:
        The 1-based line or record number where the problem is, if known.
    offset:
        The byte offset, for decoding errors.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        record: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.path = str(path)
        self.message = message
        self.line = line
        self.record = record
        self.offset = offset
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f", line {self.line}"
        if self.record is not None:
            where += f", record {self.record}"
        if self.offset is not None:
            where += f", byte offset {self.offset}"
        return f"{where}: {self.message}"


class LabelError(InputError):
    """A labels file is malformed (bad JSON, an unknown label, a missing field)."""


class ModelError(PostcredError):
    """The model file is missing, corrupt or incompatible with this version."""


class OutputError(PostcredError):
    """An output cannot be written (it exists, or it would overwrite an input)."""


class RegressionError(PostcredError):
    """A newly trained model is worse than the one it would replace."""


class DependencyError(PostcredError):
    """An optional package a command needs is not installed (the message says what to install)."""
