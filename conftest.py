"""Test-wide fixtures. The database is the embedded PostgreSQL (pgvector), a test database on it."""

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> Iterator[None]:
    """The sign-in throttles count in their own cache (cfg.settings.cache.THROTTLE_CACHE): every test starts at 0."""
    from django.core.cache import caches

    from cfg.settings.cache import THROTTLE_CACHE

    caches[THROTTLE_CACHE].clear()
    yield
    caches[THROTTLE_CACHE].clear()
