"""What the support commands share."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The error's first line: a database error goes on with the query and a caret under it."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__
