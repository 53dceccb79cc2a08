"""Every change of a live setting is recorded, with who made it when it was made in the admin.

constance's config_updated signal carries the setting, the old and the new value, not the request. The admin page
that saves live settings (modules.live_settings.admin) names its user in a context variable while it runs, and the
receiver reads it there: nothing else sets it, so a change made anywhere else (a command, the shell, code) is
recorded without a user, never with someone else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from constance import settings as constance_settings
from django.conf import settings

from modules.live_settings.models import ChangeSource, LiveSettingChange
from modules.live_settings.values import snapshot_update

_admin_user_id: ContextVar[int | None] = ContextVar("live_settings_admin_user_id", default=None)
_in_admin: ContextVar[bool] = ContextVar("live_settings_in_admin", default=False)


@contextmanager
def changes_made_in_admin(*, user_id: int | None) -> Iterator[None]:
    user_token = _admin_user_id.set(user_id)
    admin_token = _in_admin.set(True)
    try:
        yield
    finally:
        _in_admin.reset(admin_token)
        _admin_user_id.reset(user_token)


def config_changed(sender: Any, key: str, old_value: Any, new_value: Any, **kwargs: Any) -> None:
    """The receiver of constance's config_updated."""
    name = key.removeprefix(constance_settings.DATABASE_PREFIX)
    if name not in settings.CONSTANCE_CONFIG:
        return
    snapshot_update(name, new_value)
    # None: never saved before, so the value in force was the default. constance saves the default itself on a
    # first read of a setting: that and a save of the same value change nothing and are not recorded.
    old = settings.CONSTANCE_CONFIG[name][0] if old_value is None else old_value
    if old == new_value:
        return
    in_admin = _in_admin.get()
    LiveSettingChange.objects.create(
        name=name,
        old_value=old,
        new_value=new_value,
        changed_by_id=_admin_user_id.get() if in_admin else None,
        source=ChangeSource.ADMIN if in_admin else ChangeSource.OTHER,
    )
