"""Documents: list and submit (text, a file or a URL), read, change, delete, reprocess, and read their chunks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from apps.knowbase import selectors, services
from apps.knowbase.api.common import (
    NOT_SIGNED_IN,
    CategorySerializer,
    category_field,
    changeable_document,
    visible_document,
)
from apps.knowbase.exceptions import DocumentTooLarge, LengthRequired
from apps.knowbase.models import Chunk, Document, Status, Visibility
from apps.knowbase.services import Submission
from apps.knowbase.throttles import SubmitThrottle
from modules.api.errors import JSONParser
from modules.api.schema import error_responses

# Room for the multipart boundaries, the headers and the other fields (title, visibility, category) around the file.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
SHAPES = ("text", "file", "url")
ONE_SHAPE = (
    "Send the document as exactly one of: text (JSON, with a title), file (multipart/form-data) or url (JSON); "
    "this request has {given}."
)
CHANGEABLE = ("title", "visibility", "category")
NO_DOCUMENT_404 = {404: "No such document, or another user's private one"}


class DocumentSerializer(serializers.ModelSerializer[Document]):
    category = CategorySerializer(read_only=True, allow_null=True)
    owner = serializers.IntegerField(source="owner_id", read_only=True, allow_null=True, help_text="The owner's id")
    can_change = serializers.SerializerMethodField(help_text="The user may change, reprocess and delete it")
    # A plain string: a choice field would give the schema a second enum named after "status" (the tasks app has
    # one), and drf-spectacular would name both by a hash.
    status = serializers.CharField(
        read_only=True, help_text="pending (queued), processing, ready (searchable) or failed (see error)"
    )

    class Meta:
        model = Document
        fields = (
            "id",
            "title",
            "source_name",
            "source_kind",
            "source_url",
            "size_bytes",
            "visibility",
            "category",
            "owner",
            "can_change",
            "status",
            "error",
            "attempts",
            "page_count",
            "char_count",
            "chunk_count",
            "chunks_embedded",
            "embedder",
            "created_at",
            "updated_at",
            "processed_at",
            "extraction_ms",
            "embedding_ms",
        )
        read_only_fields = fields

    def get_can_change(self, document: Document) -> bool:
        return selectors.document_may_change(user=self.context["request"].user, document=document)


class DocumentFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    category = serializers.IntegerField(min_value=1, required=False, help_text="A category id")
    mine = serializers.BooleanField(required=False, default=False, help_text="Only the user's own documents")
    q = serializers.CharField(required=False, max_length=300, help_text="Words in the title")


class PlacementSerializer(serializers.Serializer[Any]):
    """Where a submitted document goes: who sees it, and its category."""

    visibility = serializers.ChoiceField(
        choices=Visibility.choices, required=False, help_text="Default: private for a new document, else unchanged"
    )
    category = category_field(
        help_text="A category id (GET /api/knowbase/categories/); default: none for a new document, else unchanged"
    )


class TextSubmitSerializer(PlacementSerializer):
    title = serializers.CharField(max_length=300)
    text = serializers.CharField(trim_whitespace=False, help_text="Plain text or Markdown")
    source_name = serializers.CharField(
        max_length=1000,
        required=False,
        help_text="Names the document: the same name again updates it. Default: the title with .md",
    )

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The text is empty.")
        return value


class FileSubmitSerializer(PlacementSerializer):
    file = serializers.FileField(help_text="Plain text, Markdown, HTML or PDF; the kind is read from the content")
    title = serializers.CharField(max_length=300, required=False, help_text="Default: from the file")

    def validate_file(self, upload: Any) -> Any:
        limit = settings.KNOWBASE["MAX_UPLOAD_BYTES"]
        if upload.size > limit:
            raise DocumentTooLarge(f"The file is {upload.size} bytes; the limit is {limit} bytes.")
        return upload


class UrlSubmitSerializer(PlacementSerializer):
    url = serializers.URLField(max_length=2000, help_text="http or https; fetched by the processing task")
    title = serializers.CharField(max_length=300, required=False, help_text="Default: from the page")


class SubmissionSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(
        choices=("created", "updated", "unchanged"),
        help_text="unchanged: the same bytes were sent again; nothing was processed",
    )
    document = DocumentSerializer()


class DocumentChangeSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=300, required=False)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    category = category_field(help_text="A category id, or null for none")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        others = sorted(set(self.initial_data) - set(CHANGEABLE))
        if others:
            raise serializers.ValidationError(
                f"These fields cannot be changed: {', '.join(others)}. Changeable: {', '.join(CHANGEABLE)}. "
                "Send new content with POST /api/knowbase/documents/ (the same source name updates the document)."
            )
        return attrs


class ChunkSerializer(serializers.ModelSerializer[Chunk]):
    class Meta:
        model = Chunk
        fields = ("id", "position", "text", "heading", "page", "char_start", "char_end", "token_count")
        read_only_fields = fields


def document_body(request: Request, document: Document) -> Any:
    return DocumentSerializer(document, context={"request": request}).data


def submission_body(request: Request, submission: Submission) -> Response:
    # Read again: the service has committed, and a task that ran at once (the immediate backend) changed the row.
    document = selectors.document_get(user=request.user, document_id=submission.document.pk) or submission.document
    code = status.HTTP_201_CREATED if submission.outcome == "created" else status.HTTP_200_OK
    return Response({"outcome": submission.outcome, "document": document_body(request, document)}, status=code)


def upload_limit() -> int:
    return int(settings.KNOWBASE["MAX_UPLOAD_BYTES"]) + MULTIPART_OVERHEAD_BYTES


class DocumentListView(generics.ListAPIView[Document]):
    serializer_class = DocumentSerializer
    # The only view of the API that takes files; the whole body is bounded before it is read (cfg.body_limit).
    parser_classes = (JSONParser, MultiPartParser, FormParser)
    max_body_bytes = staticmethod(upload_limit)

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = list(super().get_throttles())
        return [*throttles, SubmitThrottle()] if self.request.method == "POST" else throttles

    def get_queryset(self) -> QuerySet[Document]:
        filters = DocumentFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        return selectors.document_list(
            user=self.request.user,
            status=values.get("status"),
            category_id=values.get("category"),
            mine=values["mine"],
            query=values.get("q"),
        )

    @extend_schema(
        tags=["knowbase"],
        summary="List documents",
        description="The user's own documents and public ones (staff: all), newest first, paginated.",
        parameters=[DocumentFilterSerializer],
        responses={
            200: DocumentSerializer(many=True),
            **error_responses({400: "Bad filter", **NOT_SIGNED_IN, 404: "No such page"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["knowbase"],
        summary="Add or update a document",
        description=(
            "Three shapes: JSON `{title, text}` (plain text or Markdown; JSON bodies stop at "
            "DATA_UPLOAD_MAX_MEMORY_SIZE, so send long documents as a file), multipart `file`, or JSON `{url}` (when "
            "KNOWBASE__URL_FETCH_ENABLED; public addresses only). The kind is read from the content, never from the "
            "name. The same source name again (file name, URL, or the text's source_name) updates the document; the "
            "same bytes again change nothing. Processing runs in a task: `status` is pending until it is ready or "
            "failed (GET the document to follow it)."
        ),
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="DocumentSubmit",
                serializers=[TextSubmitSerializer, UrlSubmitSerializer],
                resource_type_field_name=None,
            ),
            "multipart/form-data": FileSubmitSerializer,
        },
        responses={
            201: OpenApiResponse(SubmissionSerializer, description="A new document; its processing is queued"),
            200: OpenApiResponse(SubmissionSerializer, description="An existing document updated, or unchanged"),
            **error_responses(
                {
                    400: "Invalid field, several shapes or none, or a URL that cannot be fetched",
                    **NOT_SIGNED_IN,
                    403: "Fetching by URL is off",
                    409: "The URL's document is being processed",
                    411: "A multipart upload without Content-Length",
                    413: "The file or body is too large",
                    415: "Not plain text, Markdown, HTML or PDF (decided by content)",
                    429: "Too many documents sent; the message says when to try again",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        if request.content_type.startswith("multipart/") and not request.META.get("CONTENT_LENGTH"):
            raise LengthRequired()
        given = [shape for shape in SHAPES if shape in request.data]
        if len(given) != 1:
            raise serializers.ValidationError(ONE_SHAPE.format(given=" and ".join(given) if given else "none"))
        if len(request.FILES.getlist("file")) > 1:
            raise serializers.ValidationError({"file": ["Send one file per request."]})
        if given == ["url"]:
            serializer: PlacementSerializer = UrlSubmitSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            values = serializer.validated_data
            submission = services.document_submit_url(
                owner=request.user,
                url=values["url"],
                title=values.get("title", ""),
                visibility=values.get("visibility"),
                category=values.get("category", services.KEEP),
            )
            return submission_body(request, submission)
        if given == ["file"]:
            serializer = FileSubmitSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            values = serializer.validated_data
            upload = values["file"]
            data, source_name, declared_type = upload.read(), upload.name or "document", upload.content_type
        else:
            serializer = TextSubmitSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            values = serializer.validated_data
            data, declared_type = values["text"].encode(), None
            source_name = values.get("source_name") or text_source_name(values["title"])
        submission = services.document_submit(
            owner=request.user,
            data=data,
            source_name=source_name,
            title=values.get("title", ""),
            visibility=values.get("visibility"),
            category=values.get("category", services.KEEP),
            declared_type=declared_type,
        )
        return submission_body(request, submission)


def text_source_name(title: str) -> str:
    """The source name of a text sent without one: its title as a Markdown file name."""
    name = title.strip().replace("/", "-").replace("\\", "-")
    return f"{name}.md"


class DocumentDetailView(APIView):
    @extend_schema(
        tags=["knowbase"],
        summary="Read a document",
        description="Its metadata and processing state (status, error, counts, timings); the text is in its chunks.",
        responses={200: DocumentSerializer, **error_responses({**NOT_SIGNED_IN, **NO_DOCUMENT_404})},
    )
    def get(self, request: Request, document_id: int) -> Response:
        return Response(document_body(request, visible_document(request, document_id)))

    @extend_schema(
        tags=["knowbase"],
        summary="Change a document's title, visibility or category",
        description="Visibility and category apply to its chunks at once; a new title is processed again (each chunk "
        "embeds it). The owner or staff only.",
        request=DocumentChangeSerializer,
        responses={
            200: DocumentSerializer,
            **error_responses(
                {400: "Invalid or unchangeable field", **NOT_SIGNED_IN, 403: "Not the owner", **NO_DOCUMENT_404}
            ),
        },
    )
    def patch(self, request: Request, document_id: int) -> Response:
        document = changeable_document(request, document_id)
        serializer = DocumentChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        services.document_update(
            document=document,
            title=values.get("title"),
            visibility=values.get("visibility"),
            category=values.get("category", False),
        )
        return Response(document_body(request, visible_document(request, document_id)))

    @extend_schema(
        tags=["knowbase"],
        summary="Delete a document",
        description="The document, its chunks and its stored original. The owner or staff only.",
        responses={
            204: OpenApiResponse(description="Deleted"),
            **error_responses({**NOT_SIGNED_IN, 403: "Not the owner", **NO_DOCUMENT_404}),
        },
    )
    def delete(self, request: Request, document_id: int) -> Response:
        services.document_delete(document=changeable_document(request, document_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReprocessView(APIView):
    @extend_schema(
        tags=["knowbase"],
        summary="Process a document again",
        description="Reads, chunks and embeds it again (after a failure, or to fetch a URL again); chunks whose text "
        "did not change keep their embedding. The owner or staff only.",
        request=None,
        responses={
            202: OpenApiResponse(DocumentSerializer, description="Queued (the document as it is now)"),
            **error_responses(
                {**NOT_SIGNED_IN, 403: "Not the owner", **NO_DOCUMENT_404, 409: "It is being processed now"}
            ),
        },
    )
    def post(self, request: Request, document_id: int) -> Response:
        services.document_reprocess(document=changeable_document(request, document_id))
        body = document_body(request, visible_document(request, document_id))
        return Response(body, status=status.HTTP_202_ACCEPTED)


class DocumentChunksView(generics.ListAPIView[Chunk]):
    serializer_class = ChunkSerializer

    def get_queryset(self) -> QuerySet[Chunk]:
        return selectors.document_chunks(document=visible_document(self.request, self.kwargs["document_id"]))

    @extend_schema(
        tags=["knowbase"],
        summary="A document's chunks",
        description="The passages that search and answers cite, in document order, with their heading path, page "
        "and character span in the extracted text; paginated.",
        responses={
            200: ChunkSerializer(many=True),
            **error_responses({**NOT_SIGNED_IN, 404: "No such document (or page)"}),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
