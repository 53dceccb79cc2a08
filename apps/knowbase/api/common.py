"""What the resources of the knowbase API share: the signed-in user, the document a request names, fields."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request

from apps.knowbase import selectors
from apps.knowbase.models import Category, Document

NOT_SIGNED_IN = {401: "Not signed in"}
NO_DOCUMENT = "No document with this id (or it is another user's private document)."
NOT_YOURS = "Only the document's owner or staff may change it; it is readable because it is public."
# A query or question and a few filters in JSON: a few kilobytes. More is refused unread (cfg.body_limit).
QUERY_BODY_BYTES = 16 * 1024
QUERY_MAX_CHARS = 1000
MAX_DOCUMENT_IDS = 100


def visible_document(request: Request, document_id: int) -> Document:
    """The document, if the user may see it: a 404 otherwise, so that another user's private document is not even
    known to exist."""
    document = selectors.document_get(user=request.user, document_id=document_id)
    if document is None:
        raise NotFound(NO_DOCUMENT)
    return document


def changeable_document(request: Request, document_id: int) -> Document:
    """The document, if the user may change it: its owner or staff (403 for a public document of someone else)."""
    document = visible_document(request, document_id)
    if not selectors.document_may_change(user=request.user, document=document):
        raise PermissionDenied(NOT_YOURS)
    return document


class IdListField(serializers.ListField):
    """A list of ids whose length is checked before its items are: a huge list is refused without reading it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.IntegerField(min_value=1), **kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        values: list[int] = super().to_internal_value(data)
        return list(dict.fromkeys(values))


def category_field(**kwargs: Any) -> serializers.PrimaryKeyRelatedField[Category]:
    return serializers.PrimaryKeyRelatedField(
        queryset=selectors.category_list(),
        required=False,
        allow_null=True,
        error_messages={"does_not_exist": "No category with id {pk_value}: GET /api/knowbase/categories/ lists them."},
        **kwargs,
    )


def document_ids_field() -> IdListField:
    return IdListField(
        max_length=MAX_DOCUMENT_IDS,
        required=False,
        default=list,
        help_text=f"Only these documents (at most {MAX_DOCUMENT_IDS} ids); those the user may not see are ignored",
    )


class CategorySerializer(serializers.ModelSerializer[Category]):
    class Meta:
        model = Category
        fields = ("id", "name", "slug")
        read_only_fields = fields


class PassageSourceSerializer(serializers.Serializer[Any]):
    """Where a cited passage is: its document, chunk, page, heading and character span, and an excerpt."""

    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    chunk_id = serializers.IntegerField()
    page = serializers.IntegerField(allow_null=True, help_text="PDF page, from 1")
    heading = serializers.CharField(help_text="The heading path, joined by ' > '")
    char_start = serializers.IntegerField(help_text="Offset of the chunk in the document's extracted text")
    char_end = serializers.IntegerField()
    excerpt = serializers.CharField()
