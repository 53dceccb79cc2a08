"""Values as PostgreSQL can store them. A model's text, a tool's arguments or a document's words may hold NUL
(U+0000), which neither text columns nor jsonb accept: it is replaced, so that recording a run never fails on it."""

from __future__ import annotations

from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"


def storable_text(text: str) -> str:
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def storable(value: Any) -> Any:
    """JSON-like data (dicts, lists, strings, numbers) with every string, keys included, made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value
