"""What the toolsets over an app's staff work (leads, support) share: running their sync code, the staff check, and
how they show text, times and people to the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from pydantic_ai.exceptions import ToolFailed

from modules.api.exceptions import ServiceError

MAX_TEXT = 1000


async def run_tool[T](function: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a sync function of a toolset on the thread that holds the request's connection. An app's error
    (ServiceError: a change its rules refuse, found only when the change is made) becomes ToolFailed: the model is
    told in the error's own words, and the run goes on. Other exceptions are bugs and propagate."""
    try:
        return await sync_to_async(function, thread_sensitive=True)(**kwargs)
    except ServiceError as error:
        raise ToolFailed(error.message) from error


def staff_may(user: Any, permission: str) -> bool:
    """Whether the staff API would let `user` do what `permission` covers: staff, with the permission (their own,
    a group's, or as a superuser)."""
    return bool(getattr(user, "is_staff", False)) and user.has_perm(permission)


def short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else f"{text[: MAX_TEXT - 1]}…"


def when(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def person(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "email": user.email, "name": user.get_full_name()}
