"""The errors of knowbase. Services raise them; the API's exception handler (modules.api.errors) answers each with
its status and message, so views never catch them."""

from __future__ import annotations

from rest_framework import status

from modules.api.exceptions import ServiceError


class KnowbaseError(ServiceError):
    """The base of every error of knowbase."""


class DocumentTooLarge(KnowbaseError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "document_too_large"
    message = "The document is too large."
    field = "file"


class UnsupportedDocument(KnowbaseError):
    """The bytes are not a kind the knowbase reads (decided by content, never by the file name)."""

    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_document"
    message = "Upload plain text, Markdown, HTML or PDF."
    field = "file"


class ExtractionFailed(KnowbaseError):
    """The document's kind is supported but its text could not be read (a broken or encrypted PDF, say)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "extraction_failed"
    message = "The document's text could not be read."


class EmptyDocument(KnowbaseError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "empty_document"
    message = "The document holds no text to index."


class UrlFetchDisabled(KnowbaseError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "url_fetch_disabled"
    message = "Adding documents by URL is switched off on this server; upload the file instead."
    field = "url"


class UrlRefused(KnowbaseError):
    """The URL is not http(s), or it (or a redirect) resolves to a private, loopback or link-local address."""

    code = "url_refused"
    message = "This URL cannot be fetched."
    field = "url"


class UrlFetchFailed(KnowbaseError):
    """The server could not be reached, answered with an error, was too slow, or sent too much."""

    status_code = status.HTTP_502_BAD_GATEWAY
    code = "url_fetch_failed"
    message = "The URL could not be fetched."
    field = "url"


class DocumentNotReprocessable(KnowbaseError):
    status_code = status.HTTP_409_CONFLICT
    code = "document_busy"
    message = "The document is being processed; try again when it is ready or failed."


class EmbeddingDimensionMismatch(KnowbaseError):
    """The stored embedding column and the configured embedder disagree: nothing can be searched or stored."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "embedding_dimension_mismatch"
    message = "The knowbase's stored embeddings do not match the configured embedder. Run manage.py knowbase_reembed."


class LengthRequired(KnowbaseError):
    """A multipart upload without Content-Length (chunked): Django's form parser needs the length up front."""

    status_code = status.HTTP_411_LENGTH_REQUIRED
    code = "length_required"
    message = "Send the upload with a Content-Length header (not chunked)."
