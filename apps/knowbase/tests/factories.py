"""Rows for knowbase tests, made the way the application makes them: documents go through services.document_submit
and are processed by the task's body (apps.knowbase.processing), so their chunks and embeddings are real."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.text import slugify
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.knowbase import services
from apps.knowbase.models import Category, Document, Status, Visibility
from apps.knowbase.processing import document_process

GARDEN = """# Garden notes

## Tomatoes

Tomatoes need full sun and regular watering. Stake the tomato plants early, and water them at the base in the
morning so that the leaves stay dry. Pinch out the side shoots of cordon varieties.

## Roses

Prune roses in late winter, just above an outward-facing bud. Feed them with a rose fertiliser in spring.
"""

KETTLE = """# Kettle manual

## Descaling

Descale the kettle every month in hard water areas. Fill it with equal parts of white vinegar and water, boil,
and leave it to stand for an hour before rinsing twice.

## Warranty

The warranty covers manufacturing faults for two years from the date of purchase.
"""


def user_create(email: str = "ada@example.com", **fields: Any) -> Any:
    return get_user_model().objects.create_user(email=email, **fields)


def staff_create(email: str = "staff@example.com", **fields: Any) -> Any:
    return get_user_model().objects.create_user(email=email, is_staff=True, **fields)


def client_for(user: Any) -> APIClient:
    """An API client signed in as `user` with a JWT access token, as API clients sign in."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def category_create(name: str = "Household") -> Category:
    return Category.objects.create(name=name, slug=slugify(name))


def document_create(
    *,
    owner: Any,
    text: str = GARDEN,
    title: str = "",
    source_name: str = "",
    visibility: str = Visibility.PRIVATE,
    category: Category | None = None,
    process: bool = True,
) -> Document:
    """A Markdown document submitted through the service and, with `process`, read, chunked and embedded at once
    (the task's body; in a test's transaction the task queued on commit never runs)."""
    submission = services.document_submit(
        owner=owner,
        data=text.encode(),
        source_name=source_name or f"{title or 'notes'}-{Document.objects.count()}.md",
        title=title,
        visibility=visibility,
        category=category,
    )
    document = Document.objects.get(pk=submission.document.pk)
    if process and document.status != Status.READY:
        document_process(document_id=document.pk)
        document.refresh_from_db()
    return document
