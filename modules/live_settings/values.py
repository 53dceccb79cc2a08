"""Reading live settings from code.

Two ways, for two needs:

- `live_settings()` asks the database (one query), for a decision that must follow a change at once.
- `cached_setting()` reads this process's copy of all of them, asked again every SNAPSHOT_SECONDS, for what every
  request reads (the maintenance switch): no query on the request path, and a change made in the admin reaches the
  other processes within that time (this process at once: modules.live_settings.changes).

Neither writes. constance's own `config.NAME` saves the default on a first read, which sends config_updated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from constance.utils import get_values, get_values_for_keys
from django.conf import settings

SNAPSHOT_SECONDS = 5.0


def live_settings(*names: str) -> dict[str, Any]:
    """The values of these live settings in the database now, their defaults where never saved."""
    values: dict[str, Any] = get_values_for_keys(list(names))
    return values


def defaults() -> dict[str, Any]:
    return {name: options[0] for name, options in settings.CONSTANCE_CONFIG.items()}


@dataclass
class _Snapshot:
    expires: float = 0.0
    values: Mapping[str, Any] = field(default_factory=dict)


# Replaced whole, never changed in place: a thread reads either the old copy or the new one.
_snapshot = _Snapshot()


def cached_setting(name: str) -> Any:
    """The value from this process's copy, read again from the database once it is SNAPSHOT_SECONDS old."""
    global _snapshot
    snapshot = _snapshot
    now = time.monotonic()
    if now >= snapshot.expires:
        snapshot = _Snapshot(expires=now + SNAPSHOT_SECONDS, values=get_values())
        _snapshot = snapshot
    return snapshot.values[name]


def snapshot_update(name: str, value: Any) -> None:
    """A change made in this process applies to it at once, without a read."""
    global _snapshot
    snapshot = _snapshot
    if name in snapshot.values:
        _snapshot = _Snapshot(expires=snapshot.expires, values={**snapshot.values, name: value})


def snapshot_replace(values: Mapping[str, Any], *, seconds: float = SNAPSHOT_SECONDS) -> None:
    """Use these values for `seconds` (tests start each case from the defaults, read again never)."""
    global _snapshot
    _snapshot = _Snapshot(expires=time.monotonic() + seconds, values=dict(values))
