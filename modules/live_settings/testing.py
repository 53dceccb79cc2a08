"""For tests: every test starts from the live settings' defaults, with no read of the database."""

from __future__ import annotations

import math

from modules.live_settings.values import defaults, snapshot_replace


def live_settings_reset() -> None:
    """The defaults, kept until a change in this process (a test's changes are rolled back with its transaction,
    which no signal reports, so the next test must not inherit them)."""
    snapshot_replace(defaults(), seconds=math.inf)
