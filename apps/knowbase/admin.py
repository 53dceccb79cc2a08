"""Unfold admin for the knowledge base: documents (added from a file or pasted text through the service, reprocessed,
deleted with their files), categories, and a search page that shows each hit's three scores."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from apps.knowbase import services
from apps.knowbase.answers import excerpt
from apps.knowbase.exceptions import DocumentNotReprocessable, KnowbaseError
from apps.knowbase.models import Category, Chunk, Document, Status
from apps.knowbase.search import MODES, Hit, chunk_search
from apps.knowbase.services import Submission
from modules.api.exceptions import ServiceError
from modules.llm.providers import get_embedder

STATUS_LABELS = {
    Status.PENDING: "info",
    Status.PROCESSING: "warning",
    Status.READY: "success",
    Status.FAILED: "danger",
}
DEFAULT_LIMIT = 10
# The change page shows this many chunks; the API pages through them all.
CHUNK_PREVIEW = 20
# Room for the form's other fields and the multipart framing around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
PROCESSING_FIELDS = (
    "status",
    "error",
    "attempts",
    "embedder",
    "page_count",
    "char_count",
    "chunk_count",
    "chunks_embedded",
    "processing_started_at",
    "processed_at",
    "extraction_ms",
    "embedding_ms",
)
SOURCE_FIELDS = ("source_name", "source_kind", "source_url", "size_bytes", "content_hash", "original_name")


class DocumentAddForm(forms.ModelForm):
    """A file or pasted text, submitted through services.document_submit (never a bare save): its kind is read from
    the content and a task reads, chunks and embeds it. The service's refusals are the form's errors."""

    file = forms.FileField(
        required=False,
        widget=UnfoldAdminFileFieldWidget,
        help_text="Plain text, Markdown, HTML or PDF (the kind is read from the content)",
    )
    text = forms.CharField(
        required=False,
        strip=False,
        widget=UnfoldAdminTextareaWidget,
        help_text="Or paste plain text or Markdown instead of a file",
    )
    title = forms.CharField(
        required=False,
        max_length=300,
        widget=UnfoldAdminTextInputWidget,
        help_text="Default: from the document (its first heading or metadata, else its name). Needed with text.",
    )
    source_name = forms.CharField(
        required=False,
        max_length=1000,
        widget=UnfoldAdminTextInputWidget,
        help_text="Names the document: the same owner and name again updates it. Default: the file's name, or the "
        "title with .md for text.",
    )

    class Meta:
        model = Document
        fields = ("owner", "visibility", "category")

    submission: Submission

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        upload, text, title = cleaned.get("file"), cleaned.get("text") or "", cleaned.get("title") or ""
        if bool(upload) == bool(text.strip()):
            raise forms.ValidationError("Upload a file or paste text (one of the two).")
        if upload is not None:
            data, field, declared_type = upload.read(), "file", upload.content_type
            source_name = cleaned.get("source_name") or upload.name or "document"
        else:
            if not title.strip():
                self.add_error("title", "Give pasted text a title.")
                return cleaned
            data, field, declared_type = text.encode(), "text", None
            source_name = cleaned.get("source_name") or f"{title.strip().replace('/', '-')}.md"
        try:
            self.submission = services.document_submit(
                owner=cleaned.get("owner"),
                data=data,
                source_name=source_name,
                title=title,
                visibility=cleaned["visibility"],
                category=cleaned.get("category"),
                declared_type=declared_type,
            )
        except KnowbaseError as error:
            self.add_error(field, error.message)
        return cleaned

    def save(self, commit: bool = True) -> Document:
        # The service saved it (and queued its processing); the admin logs and redirects to it.
        return self.submission.document

    def save_m2m(self) -> None:
        """Nothing more to save (the admin calls this after save_model)."""


class DocumentChangeForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ("title", "visibility", "category")


@admin.register(Document)
class DocumentAdmin(ModelAdmin):
    form = DocumentChangeForm
    add_form = DocumentAddForm
    list_display = (
        "title",
        "status_label",
        "source_kind",
        "owner",
        "visibility",
        "category",
        "chunk_count",
        "created_at",
    )
    list_filter = ("status", "source_kind", "visibility", "category")
    list_filter_submit = True
    search_fields = ("title", "source_name")
    list_select_related = ("owner", "category")
    autocomplete_fields = ("owner",)
    date_hierarchy = "created_at"
    list_per_page = 50
    list_before_template = "knowbase/admin/changelist_before.html"
    actions = ["reprocess_documents"]
    fieldsets = (
        (None, {"fields": ("title", "owner", "visibility", "category")}),
        ("Source", {"fields": SOURCE_FIELDS}),
        ("Processing", {"fields": PROCESSING_FIELDS}),
        ("Chunks", {"fields": ("chunks_preview",)}),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("file", "text", "title", "source_name")}),
        ("Who sees it", {"fields": ("owner", "visibility", "category")}),
    )
    readonly_fields = (
        "owner",
        *SOURCE_FIELDS,
        *PROCESSING_FIELDS,
        "chunks_preview",
        "created_at",
        "updated_at",
    )

    def get_form(self, request: HttpRequest, obj: Document | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            # Only these are the model's: title and source_name are the service's arguments, which it checks.
            kwargs.update(form=self.add_form, fields=DocumentAddForm.Meta.fields)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Document | None = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Document | None = None) -> Any:
        # Added documents get an owner; once added, it is fixed (its chunks carry it).
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Document, form: forms.ModelForm, change: bool) -> None:
        if not change:
            return  # DocumentAddForm submitted it
        values = form.cleaned_data
        services.document_update(
            document=obj, title=values["title"], visibility=values["visibility"], category=values["category"]
        )

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            services.document_delete(document=document)

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_label(self, document: Document) -> tuple[str, str]:
        return document.status, document.get_status_display()

    @display(description="Stored original")
    def original_name(self, document: Document) -> str:
        return document.original.name or "—"

    @display(description=f"First {CHUNK_PREVIEW} chunks")
    def chunks_preview(self, document: Document) -> str:
        chunks = list(document.chunks.only("position", "heading", "page", "token_count", "text")[:CHUNK_PREVIEW])
        return render_to_string(
            "knowbase/admin/chunks.html",
            {
                "table": {
                    "headers": ["#", "Heading", "Page", "Tokens", "Text"],
                    "rows": [_chunk_row(chunk) for chunk in chunks],
                },
                "shown": len(chunks),
                "total": document.chunk_count,
                "api_url": reverse("knowbase:document-chunks", args=[document.pk]),
            },
        )

    @action(description="Reprocess the selected documents")
    def reprocess_documents(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        queued, busy = 0, 0
        for document in queryset:
            try:
                services.document_reprocess(document=document)
                queued += 1
            except DocumentNotReprocessable:
                busy += 1
        if queued:
            self.message_user(request, f"{queued} document(s) queued for processing.", messages.SUCCESS)
        if busy:
            self.message_user(request, f"{busy} document(s) skipped: being processed now.", messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        search = path("search/", self.admin_site.admin_view(self.search_view), name="knowbase_document_search")
        urls = super().get_urls()
        for pattern in urls:
            if pattern.name == "knowbase_document_add":
                # A document may be larger than the admin's usual upload limit (cfg.body_limit reads this).
                pattern.callback.max_body_bytes = upload_limit
        return [search, *urls]

    def search_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SearchForm(request.GET or None)
        hits: list[Hit] = []
        if form.is_valid():
            try:
                hits = chunk_search(
                    user=request.user,
                    query=form.cleaned_data["query"],
                    limit=form.cleaned_data["limit"],
                    mode=form.cleaned_data["mode"],
                )
            except ServiceError as error:  # the embedder or the stored embeddings: said on the page, not a 500
                self.message_user(request, error.message, messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "title": "Search the knowledge base",
            "embedder_label": f"Embedder: {get_embedder().label}",
            "opts": self.model._meta,
            "form": form,
            "searched": form.is_bound and form.is_valid(),
            "table": {
                "headers": ["Score", "Vector", "Keyword", "Document", "Where", "Excerpt"],
                "rows": [_hit_row(hit) for hit in hits],
            },
            "hits": hits,
            "changelist_url": reverse("admin:knowbase_document_changelist"),
        }
        return TemplateResponse(request, "knowbase/admin/search.html", context)


def upload_limit() -> int:
    return int(settings.KNOWBASE["MAX_UPLOAD_BYTES"]) + FORM_OVERHEAD_BYTES


def _chunk_row(chunk: Chunk) -> list[object]:
    return [chunk.position, chunk.heading or "—", chunk.page or "—", chunk.token_count, excerpt(chunk.text)]


def _hit_row(hit: Hit) -> dict[str, Any]:
    document = format_html(
        '<a class="text-primary-600" href="{}">{}</a>',
        reverse("admin:knowbase_document_change", args=[hit.document_id]),
        hit.document_title,
    )
    return {
        "cols": [
            f"{hit.score:.4f}",
            _score(hit.vector_score, hit.vector_rank),
            _score(hit.keyword_score, hit.keyword_rank),
            document,
            _where(hit.page, hit.heading, hit.position),
            excerpt(hit.text),
        ],
        "attrs": {"data-chunk": hit.chunk_id},
    }


def _score(value: float | None, rank: int | None) -> str:
    return "—" if value is None else f"{value:.4f} (#{rank})"


def _where(page: int | None, heading: str, position: int) -> str:
    parts = [f"page {page}"] if page else []
    if heading:
        parts.append(heading)
    parts.append(f"chunk {position}")
    return " · ".join(parts)


class SearchForm(forms.Form):
    query = forms.CharField(max_length=1000, widget=UnfoldAdminTextInputWidget(attrs={"autofocus": True}))
    mode = forms.ChoiceField(
        choices=[(mode, mode) for mode in MODES], required=False, initial="hybrid", widget=UnfoldAdminSelectWidget
    )
    limit = forms.IntegerField(
        min_value=1,
        required=False,
        initial=DEFAULT_LIMIT,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="At most KNOWBASE__SEARCH_MAX_RESULTS",
    )

    def clean_mode(self) -> str:
        return str(self.cleaned_data["mode"] or "hybrid")

    def clean_limit(self) -> int:
        value = self.cleaned_data["limit"] or DEFAULT_LIMIT
        most = int(settings.KNOWBASE["SEARCH_MAX_RESULTS"])
        if value > most:
            raise forms.ValidationError(f"Ask for at most {most} results.")
        return int(value)


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
