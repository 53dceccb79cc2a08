"""Downloading an attachment: only for people who may see it (the ticket's customer, unless it is on an internal
note; staff with the support view permission), from the private storage, always as a download that no browser
renders in the site's origin."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.support import selectors
from apps.support.api.common import NOT_SIGNED_IN, SMALL_BODY_BYTES, TAG
from apps.support.exceptions import AttachmentNotFound
from apps.support.models import Attachment
from modules.api.schema import error_responses

logger = logging.getLogger(__name__)

# What attachments.py issues (secrets.token_urlsafe): anything else names no attachment, and is not even looked up.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# The file is never run as a page even if a browser is talked into opening it: no script, no plugin, no request.
SANDBOX = "sandbox; default-src 'none'"


class AnyAccept(BaseContentNegotiation):
    """The file answers whatever the client accepts (an image viewer asks for image/*); an error answers JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


def attachment_for(user: Any, token: str) -> Attachment:
    if TOKEN.fullmatch(token) is None:
        raise AttachmentNotFound
    if user.is_staff and user.has_perm(selectors.VIEW_PERMISSION):
        return selectors.attachment_for_staff(token=token)
    return selectors.attachment_for_customer(user=user, token=token)


class AttachmentView(APIView):
    content_negotiation_class = AnyAccept
    max_body_bytes = SMALL_BODY_BYTES

    @extend_schema(
        tags=[TAG],
        summary="Download an attachment",
        description=(
            "The file, as a download (Content-Disposition: attachment, with the name it was uploaded with), with the "
            "content type recognised from its content, nosniff and a sandboxing Content-Security-Policy. For the "
            "ticket's customer (not on an internal note) and staff with the support view permission; anyone else "
            "gets 404, as for a token that names nothing."
        ),
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file"),
            **error_responses({**NOT_SIGNED_IN, 404: "No such attachment, or not one the caller may see"}),
        },
    )
    def get(self, request: Request, token: str) -> FileResponse:
        attachment = attachment_for(request.user, token)
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError as error:
            # The row outlived its file (a restore without the private storage): not the client's fault, but
            # nothing to hand out either.
            logger.error("support attachment %s has no file at %s", attachment.pk, attachment.file.name)
            raise AttachmentNotFound from error
        response = FileResponse(
            handle, as_attachment=True, filename=attachment.name, content_type=attachment.content_type
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = SANDBOX
        response["Cache-Control"] = "private"
        return response
