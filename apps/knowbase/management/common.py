"""What the knowbase commands share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StaffView:
    """The user a command searches as when none is named: staff, who see every document."""

    is_staff: bool = True
    is_authenticated: bool = True
    pk: int | None = None


STAFF_VIEW = StaffView()


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
