"""Fixtures of the knowbase tests: stored originals in the test's own directory, and signed-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from rest_framework.test import APIClient

from apps.knowbase.models import Document
from apps.knowbase.search import forget_frequent_lexemes
from apps.knowbase.tests.factories import client_for, staff_create, user_create


@pytest.fixture(autouse=True)
def _knowbase_originals_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Originals are stored in the private storage (the data directory): here, in the test's tmp_path instead, so
    that no test leaves files behind. The field holds its storage since the model was defined (FileField calls a
    storage callable once), so overriding STORAGES would not move it: the field's storage itself is replaced."""
    location = tmp_path / "private"
    monkeypatch.setattr(Document._meta.get_field("original"), "storage", FileSystemStorage(location=location))
    yield location


@pytest.fixture(autouse=True)
def _fresh_word_statistics() -> Iterator[None]:
    """The frequent words are cached per process for minutes: each test reads its own database's statistics."""
    forget_frequent_lexemes()
    yield
    forget_frequent_lexemes()


@pytest.fixture
def ada(db: Any) -> Any:
    return user_create("ada@example.com")


@pytest.fixture
def eve(db: Any) -> Any:
    return user_create("eve@example.com")


@pytest.fixture
def staff(db: Any) -> Any:
    return staff_create("staff@example.com")


@pytest.fixture
def ada_api(ada: Any) -> APIClient:
    return client_for(ada)


@pytest.fixture
def eve_api(eve: Any) -> APIClient:
    return client_for(eve)


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return client_for(staff)
