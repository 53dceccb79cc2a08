"""Unfold admin for agents: the definitions (toolsets offered by name, the output schema checked as pydantic-ai will
use it, the usage limits, who may run each), conversations, runs and tool calls as read-only records (a run's
message history shown readably, with its tool calls), and the queue of tool calls waiting for a staff decision.

Decisions go through services.tool_call_decide: when a run's last pending call is decided, its task is queued again;
with the immediate backend (development without Redis) the run resumes inline, in the admin request, so the message
after the decision already tells how the run ended."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from pydantic import TypeAdapter, ValidationError
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextInputWidget

from apps.agents import selectors, services
from apps.agents.exceptions import RunNotCancellable, ToolCallNotPending
from apps.agents.models import (
    ACTIVE,
    Access,
    AgentDefinition,
    AgentRun,
    Conversation,
    PendingApproval,
    RunStatus,
    ToolCall,
    ToolCallStatus,
)
from apps.agents.toolsets import available_toolsets, toolset_choices
from modules.unfold.admin import ReadOnlyAdminMixin

RUN_LABELS = {
    RunStatus.QUEUED: "info",
    RunStatus.RUNNING: "warning",
    RunStatus.WAITING_FOR_APPROVAL: "warning",
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "danger",
}
CALL_LABELS = {
    ToolCallStatus.AWAITING_APPROVAL: "warning",
    ToolCallStatus.RUNNING: "info",
    ToolCallStatus.SUCCEEDED: "success",
    ToolCallStatus.FAILED: "danger",
    ToolCallStatus.DENIED: "danger",
}
# How deeply objects and lists may nest in an output schema: far more than an answer needs, far less than what
# makes Python's JSON parser or pydantic's schema generation run out of stack (a 500).
MAX_SCHEMA_DEPTH = 64
TOO_DEEP = f"The schema nests objects and lists more than {MAX_SCHEMA_DEPTH} levels deep: make it flatter."
# The only $refs pydantic resolves: into the schema's own "$defs".
REF_PREFIX = "#/$defs/"
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
# A message part longer than this is shown cut short on a run's page (the run keeps all of it).
PART_CHARS = 4000
# An id in an admin URL longer than this is no row's (a bigint has 19 digits): no query for it.
MAX_ID_DIGITS = 19
# Arguments and results in lists: one line each.
CELL_CHARS = 120


# --- Agent definitions ----------------------------------------------------------------------------------------------


def schema_problem(schema: Any) -> str | None:
    """Why `schema` cannot be an agent's output schema, or None: it must be a JSON schema of an object whose parts
    are schemas with JSON types, whose text the database can store, whose `$ref`s point into its own `$defs`, and
    that pydantic-ai takes: the answer's type is built here exactly as the engine builds it on every run, and its
    JSON schema generated (which resolves every `$ref`), so that a schema which would break every run is refused
    here rather than saved."""
    if not isinstance(schema, dict):
        return "Give a JSON object ({…}): a JSON schema of the answer, not a list, a string or a number."
    if schema.get("type") != "object":
        return 'The answer must be an object: give the schema "type": "object" and its "properties".'
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return TOO_DEEP
    problem = _unstorable_text(schema) or _subschema_problem(schema, "the schema") or _reference_problem(schema)
    if problem:
        return problem
    return _build_problem(schema)


def _build_problem(schema: dict[str, Any]) -> str | None:
    """What goes wrong when the engine's answer type is built from `schema` and used, or None."""
    from pydantic_ai import StructuredDict  # a second of imports: paid by the staff who save a schema, not at start-up

    try:
        answer = StructuredDict(copy.deepcopy(schema), name="answer")  # it writes into the schema it is given
        adapter: TypeAdapter[Any] = TypeAdapter(answer)
        adapter.json_schema()  # what the model is sent: every $ref resolved
        with contextlib.suppress(ValidationError):  # an empty answer may well be invalid: only what breaks matters
            adapter.validate_python({})
    except KeyError as error:  # a $ref to a definition that is not there
        return f"pydantic-ai cannot use this schema: it refers to {error.args[0]!r}, which it does not define."
    except Exception as error:  # pydantic-ai's UserError (recursive $refs), or pydantic's on a schema it cannot read
        return f"pydantic-ai cannot use this schema: {error}"
    return None


def _depth(value: Any) -> int:
    """How deeply objects and lists nest in `value` (a scalar: 0)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _unstorable_text(schema: Any) -> str | None:
    """Text the database cannot store, anywhere in the schema (a property's name included): PostgreSQL's jsonb
    refuses the NUL character (U+0000), and UTF-8 has no lone surrogates (a "\\ud800" escape)."""
    pending: list[Any] = [schema]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return f"{json.dumps(value)[:60]} holds the NUL character (\\u0000), which the database cannot store."
            try:
                value.encode()
            except UnicodeEncodeError:
                return f"{json.dumps(value)[:60]} holds a lone surrogate (\\ud800…\\udfff), which is not text."
    return None


def _reference_problem(schema: dict[str, Any]) -> str | None:
    """A `$ref` that pydantic cannot resolve: it resolves "#/$defs/<name>" into the schema's own "$defs" only (no
    other path, no other document: nothing is ever fetched)."""
    definitions = schema.get("$defs")
    if definitions is not None and not isinstance(definitions, dict):
        return '"$defs" must be an object: each definition\'s name and its schema.'
    pending: list[Any] = [schema]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
            continue
        if not isinstance(value, dict):
            continue
        pending.extend(value.values())
        if "$ref" not in value or isinstance(value["$ref"], dict):  # a dict: a property named "$ref"
            continue
        target = value["$ref"]
        name = target.removeprefix(REF_PREFIX) if isinstance(target, str) else ""
        if not isinstance(target, str) or not target.startswith(REF_PREFIX) or "/" in name:
            return (
                f"The $ref {json.dumps(target)[:60]} is not one pydantic-ai can follow: refer to a definition of the "
                f'schema\'s "$defs" as "{REF_PREFIX}<name>".'
            )
        if name not in (definitions or {}):
            return f'The $ref {json.dumps(target)[:60]} points to nothing: the schema\'s "$defs" has no {name!r}.'
    return None


def _subschema_problem(schema: Any, where: str) -> str | None:
    if isinstance(schema, bool):  # true / false are schemas too (anything / nothing)
        return None
    if not isinstance(schema, dict):
        return f"{where} must be a JSON object (a schema), not {json.dumps(schema)[:60]}."
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for name in kinds:
        if name not in JSON_TYPES:
            return (
                f"{where} has the type {json.dumps(name)}, which is not a JSON type ({', '.join(sorted(JSON_TYPES))})."
            )
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            return f'"properties" of {where} must be an object: each property\'s name and its schema.'
        for name, subschema in properties.items():
            problem = _subschema_problem(subschema, f"the property {name!r}")
            if problem:
                return problem
    required = schema.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
            return f'"required" of {where} must be a list of property names.'
        missing = [name for name in required if isinstance(properties, dict) and name not in properties]
        if missing:
            return f'"required" of {where} names {", ".join(map(repr, missing))}, which is not among its properties.'
    if "items" in schema:
        return _subschema_problem(schema["items"], f"the items of {where}")
    return None


class SchemaJSONField(forms.JSONField):
    """The output schema's field, which answers a form error rather than a 500 to JSON that Python reads but cannot
    handle: nested past the parser's recursion limit (refused, and shown again as sent), or holding a "\\ud800"
    escape, a lone surrogate that UTF-8 cannot encode (the page saying so would fail: shown with ASCII escapes)."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError as error:  # Python's JSON parser gives up past a thousand levels or so
            raise forms.ValidationError(TOO_DEEP) from error

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # shown again as it was sent
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> Any:
        text = super().prepare_value(value)
        if isinstance(text, str) and not isinstance(value, forms.fields.InvalidJSONInput):
            try:
                text.encode()
            except UnicodeEncodeError:
                return json.dumps(value, cls=self.encoder)
        return text


class AgentDefinitionForm(forms.ModelForm):
    toolsets = forms.MultipleChoiceField(
        choices=toolset_choices,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="What the agent may do, each as the user the run is for. A toolset whose app is switched off is "
        "not offered; one the agent already had is kept, and unused until the app is back.",
    )

    class Meta:
        model = AgentDefinition
        fields = (
            "name",
            "description",
            "is_active",
            "instructions",
            "model",
            "toolsets",
            "output_schema",
            "request_limit",
            "tool_calls_limit",
            "total_tokens_limit",
            "cost_limit",
            "access",
            "groups",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shown = self.fields["output_schema"]
        self.fields["output_schema"] = SchemaJSONField(
            required=False, label=shown.label, help_text=shown.help_text, widget=shown.widget
        )

    def clean_toolsets(self) -> list[str]:
        chosen = [str(name) for name in self.cleaned_data["toolsets"]]
        offered = set(available_toolsets())
        kept = [name for name in (self.instance.toolsets or []) if name not in offered and name not in chosen]
        return chosen + kept

    def clean_output_schema(self) -> Any:
        schema = self.cleaned_data.get("output_schema")
        if schema in (None, ""):
            return None
        problem = schema_problem(schema)
        if problem:
            raise forms.ValidationError(problem)
        return schema

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        groups = cleaned.get("groups")
        if cleaned.get("access") == Access.GROUPS and groups is not None and not groups.exists():
            self.add_error(
                "groups",
                "Choose at least one group: an agent for the members of groups, without groups, is for staff only.",
            )
        return cleaned


class RunsCountAdmin(ModelAdmin):
    """A list with each row's number of runs (its model's reverse relation `runs`), sortable by it."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows: QuerySet[Any] = super().get_queryset(request)
        counted: QuerySet[Any] = rows.annotate(runs_total=Count("runs"))
        return counted

    @display(description="Runs", ordering="runs_total")
    def runs_count(self, row: AgentDefinition | Conversation) -> int:
        return int(getattr(row, "runs_total", 0))


@admin.register(AgentDefinition)
class AgentDefinitionAdmin(RunsCountAdmin):
    form = AgentDefinitionForm
    list_display = ("name", "is_active", "access", "toolsets_display", "runs_count", "updated_at")
    list_filter = ("is_active", "access")
    search_fields = ("name", "description")
    filter_horizontal = ("groups",)
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        ("Behaviour", {"fields": ("instructions", "model", "toolsets", "output_schema")}),
        ("Limits per run", {"fields": ("request_limit", "tool_calls_limit", "total_tokens_limit", "cost_limit")}),
        ("Who may run it", {"fields": ("access", "groups")}),
    )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new agent starts with the configured default limits (AGENTS__DEFAULT_*)."""
        defaults = settings.AGENTS
        return {
            "request_limit": defaults["DEFAULT_REQUEST_LIMIT"],
            "tool_calls_limit": defaults["DEFAULT_TOOL_CALLS_LIMIT"],
            "total_tokens_limit": defaults["DEFAULT_TOTAL_TOKENS_LIMIT"],
            "cost_limit": defaults["DEFAULT_COST_LIMIT"],
            **super().get_changeform_initial_data(request),
        }

    @display(description="Toolsets")
    def toolsets_display(self, agent: AgentDefinition) -> str:
        specs = available_toolsets()
        names = [specs[name].label if name in specs else f"{name} (unavailable)" for name in agent.toolsets or []]
        return ", ".join(names) or "—"


# --- Conversations and runs -----------------------------------------------------------------------------------------


def _short(value: Any, width: int = CELL_CHARS) -> str:
    if value is None or value == "":
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _pre(value: Any) -> SafeString:
    if value is None or value == "":
        return format_html("{}", "—")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    return format_html('<pre class="text-xs" style="white-space: pre-wrap">{}</pre>', text)


def _cost(value: Any) -> str:
    return "—" if value is None else f"${value:.6f}".rstrip("0").rstrip(".")


def _duration(ms: int) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms} ms"


def _run_link(run_id: int) -> SafeString:
    return format_html(
        '<a class="text-primary-600" href="{}">Run #{}</a>',
        reverse("admin:agents_agentrun_change", args=[run_id]),
        run_id,
    )


def fieldset_fields(fieldsets: Iterable[tuple[str | None, dict[str, Any]]]) -> tuple[str, ...]:
    """Every field the fieldsets show, in their order: a record's page shows them all read-only."""
    return tuple(name for _, options in fieldsets for name in options["fields"])


def status_columns(labels: dict[Any, str]) -> tuple[Callable[..., tuple[str, str]], Callable[..., str]]:
    """A run's or a tool call's status as two columns: a label coloured by `labels` (lists) and plain text (its
    page)."""

    @display(description="Status", ordering="status", label=labels)
    def status_label(self: Any, record: AgentRun | ToolCall) -> tuple[str, str]:
        return record.status, record.get_status_display()

    @display(description="Status")
    def status_text(self: Any, record: AgentRun | ToolCall) -> str:
        return str(record.get_status_display())

    return status_label, status_text


class ToolCallColumns:
    """The columns of a tool call that the tool calls' pages, a run's inline and the approval queue share."""

    @display(description="Run")
    def run_display(self, call: ToolCall) -> SafeString:
        return _run_link(call.run_id)

    @display(description="Agent")
    def agent_display(self, call: ToolCall) -> str:
        return str(call.run.agent)

    @display(description="For")
    def owner_display(self, call: ToolCall) -> str:
        return str(call.run.owner)

    @display(description="Arguments")
    def arguments_excerpt(self, call: ToolCall) -> str:
        return _short(call.arguments)

    @display(description="Arguments")
    def arguments_display(self, call: ToolCall) -> SafeString:
        return _pre(call.arguments)


class RecordInline(TabularInline):
    """A page's records listed read-only, each linking to its own page."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


class RunInline(RecordInline):
    model = AgentRun
    fields = ("created_at", "status", "input", "output_excerpt", "tokens")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentRun]:
        runs: QuerySet[AgentRun] = super().get_queryset(request)
        return runs.defer("messages")

    @display(description="Output")
    def output_excerpt(self, run: AgentRun) -> str:
        return _short(run.output if run.output is not None else run.error)

    @display(description="Tokens in / out")
    def tokens(self, run: AgentRun) -> str:
        return f"{run.input_tokens} / {run.output_tokens}"


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, RunsCountAdmin):
    list_display = ("__str__", "owner", "agent", "runs_count", "updated_at")
    list_filter = ("agent",)
    search_fields = ("title", "owner__email")
    list_select_related = ("owner", "agent")
    date_hierarchy = "created_at"
    fields = ("title", "owner", "agent", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (RunInline,)


class ToolCallInline(ToolCallColumns, RecordInline):
    model = ToolCall
    fields = ("tool", "status", "decision", "arguments_excerpt", "result_excerpt", "duration_ms")
    readonly_fields = fields

    @display(description="Result")
    def result_excerpt(self, call: ToolCall) -> str:
        return _short(call.error or call.result)


class CancelForm(BaseDialogForm):
    """The confirmation of a run's cancellation (a POST, with its CSRF token)."""


# What a run used: columns of the list of runs, and fields of a run's page.
RUN_USAGE = ("input_tokens", "output_tokens", "requests", "tool_calls_count", "cost_display", "duration_display")


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("run_display", "status_label", "agent", "owner", *RUN_USAGE, "created_at")
    list_display_links = ("run_display",)
    list_filter = ("status", "agent")
    list_filter_submit = True
    search_fields = ("input", "owner__email", "error")
    list_select_related = ("agent", "owner")
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ["cancel_runs"]
    actions_detail = ["cancel_run"]
    inlines = (ToolCallInline,)
    fieldsets = (
        (None, {"fields": ("status_text", "agent", "owner", "conversation_link", "input", "output_display")}),
        ("Error", {"fields": ("error_code", "error")}),
        ("Usage", {"fields": ("model_name", *RUN_USAGE)}),
        ("Times", {"fields": ("cancel_requested", "created_at", "started_at", "finished_at")}),
        ("Messages", {"fields": ("messages_display",)}),
    )
    readonly_fields = fieldset_fields(fieldsets)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentRun]:
        runs: QuerySet[AgentRun] = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and str(match.url_name).endswith("changelist"):
            runs = runs.defer("messages")  # a list of runs never shows their histories
        return runs

    def has_cancel_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Staff who may change runs; on a run's page (obj: its id), only while the run has not finished."""
        if not request.user.has_perm("agents.change_agentrun"):
            return False
        if obj is None:
            return True
        run_id = obj.pk if isinstance(obj, AgentRun) else obj
        return AgentRun.objects.filter(pk=run_id, status__in=ACTIVE).exists() if str(run_id).isdigit() else False

    @display(description="Run", ordering="id")
    def run_display(self, run: AgentRun) -> str:
        return f"#{run.pk}: {_short(run.input, 60)}"

    status_label, status_text = status_columns(RUN_LABELS)

    @display(description="Conversation")
    def conversation_link(self, run: AgentRun) -> SafeString:
        return format_html(
            '<a class="text-primary-600" href="{}">{}</a>',
            reverse("admin:agents_conversation_change", args=[run.conversation_id]),
            str(run.conversation),
        )

    @display(description="Output")
    def output_display(self, run: AgentRun) -> SafeString:
        return _pre(run.output)

    @display(description="Cost", ordering="cost")
    def cost_display(self, run: AgentRun) -> str:
        return _cost(run.cost)

    @display(description="Duration", ordering="duration_ms")
    def duration_display(self, run: AgentRun) -> str:
        return _duration(run.duration_ms)

    @display(description="Message history")
    def messages_display(self, run: AgentRun) -> SafeString:
        return messages_html(run.messages or [])

    @action(description="Cancel the selected runs", permissions=["cancel"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[AgentRun]) -> None:
        ended, stopping, finished = 0, 0, 0
        for run in queryset:
            try:
                cancelled = services.run_cancel(run=run)
            except RunNotCancellable:
                finished += 1
                continue
            if cancelled.status == RunStatus.CANCELLED:
                ended += 1
            else:
                stopping += 1
        if ended:
            self.message_user(request, f"{ended} run(s) cancelled.", messages.SUCCESS)
        if stopping:
            self.message_user(
                request, f"{stopping} running run(s) asked to stop (at their next step).", messages.SUCCESS
            )
        if finished:
            self.message_user(request, f"{finished} run(s) skipped: already finished.", messages.WARNING)

    @action(
        description="Cancel",
        icon="cancel",
        permissions=["cancel"],
        dialog={
            "title": "Cancel this run?",
            "description": "A queued or paused run ends at once (its pending tool calls are denied); a running one "
            "stops at its next step (a tool call already running finishes first).",
            "form_class": CancelForm,
            "form_submit_text": "Cancel the run",
        },
    )
    def cancel_run(self, request: HttpRequest, form: CancelForm, object_id: str) -> HttpResponse:
        run = AgentRun.objects.filter(pk=object_id).first()
        if run is None:
            self.message_user(request, f"No run #{object_id}.", messages.ERROR)
            return _back(request, reverse("admin:agents_agentrun_changelist"))
        try:
            cancelled = services.run_cancel(run=run)
        except RunNotCancellable as error:
            self.message_user(request, error.message, messages.WARNING)
        else:
            done = "cancelled" if cancelled.status == RunStatus.CANCELLED else "asked to stop"
            self.message_user(request, f"Run #{run.pk} {done}.", messages.SUCCESS)
        return _back(request, reverse("admin:agents_agentrun_change", args=[run.pk]))


def messages_html(history: list[Any]) -> SafeString:
    """A run's message history (pydantic-ai's JSON form) as blocks: who said it, and what."""
    blocks: list[tuple[str, str, str]] = []
    instructions = None
    for message in history:
        if not isinstance(message, dict):
            continue
        if message.get("kind") == "request":
            if message.get("instructions") and message["instructions"] != instructions:
                instructions = message["instructions"]
                blocks.append(("Instructions", "", instructions))
            for part in message.get("parts") or []:
                blocks.append(_request_part(part))
        else:
            for part in message.get("parts") or []:
                blocks.append(_response_part(part))
    if not blocks:
        return format_html("{}", "—")
    return format_html(
        '<div class="flex flex-col gap-3">{}</div>',
        format_html_join(
            "",
            '<div><div class="text-xs"><span class="font-semibold uppercase">{}</span> <span class="text-base-500">'
            '{}</span></div><pre class="text-xs" style="white-space: pre-wrap">{}</pre></div>',
            ((role, detail, _cut(content)) for role, detail, content in blocks),
        ),
    )


def _request_part(part: dict[str, Any]) -> tuple[str, str, str]:
    kind = part.get("part_kind")
    content = part.get("content")
    if kind == "system-prompt":
        return "System", "", _text(content)
    if kind == "user-prompt":
        return "User", "", _text(content)
    if kind == "tool-return":
        return "Tool result", _call_detail(part), _text(content)
    if kind == "retry-prompt":
        return "Retry", _call_detail(part) if part.get("tool_name") else "", _text(content)
    return str(kind or "Request"), "", _text(part)


def _response_part(part: dict[str, Any]) -> tuple[str, str, str]:
    kind = part.get("part_kind")
    if kind == "text":
        return "Model", "", _text(part.get("content"))
    if kind == "tool-call":
        args = part.get("args")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                return "Tool call", _call_detail(part), args
        return "Tool call", _call_detail(part), _text(args)
    if kind == "thinking":
        return "Thinking", "", _text(part.get("content"))
    return str(kind or "Response"), "", _text(part)


def _call_detail(part: dict[str, Any]) -> str:
    """Which call a message part is about: its tool and the call's id."""
    return f"{part.get('tool_name', '')} · {part.get('tool_call_id', '')}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2)


def _cut(text: str) -> str:
    return text if len(text) <= PART_CHARS else f"{text[:PART_CHARS]}… ({len(text):,} characters in all)"


# --- Tool calls and the approval queue ------------------------------------------------------------------------------


@admin.register(ToolCall)
class ToolCallAdmin(ToolCallColumns, ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "tool",
        "status_label",
        "decision",
        "run_display",
        "agent_display",
        "arguments_excerpt",
        "duration_ms",
        "created_at",
    )
    list_filter = ("status", "tool", "decision", "toolset", "requires_approval")
    list_filter_submit = True
    search_fields = ("tool", "tool_call_id", "run__owner__email")
    list_select_related = ("run", "run__agent", "run__owner", "decided_by")
    date_hierarchy = "created_at"
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("tool", "toolset", "status_text", "run_display", "agent_display", "owner_display")}),
        ("Call", {"fields": ("tool_call_id", "arguments_display", "result_display", "error", "duration_ms")}),
        ("Approval", {"fields": ("requires_approval", "decision", "decided_by", "decided_at", "decision_note")}),
        ("Times", {"fields": ("created_at", "finished_at")}),
    )
    readonly_fields = fieldset_fields(fieldsets)

    status_label, status_text = status_columns(CALL_LABELS)

    @display(description="Run", ordering="run")
    def run_display(self, call: ToolCall) -> SafeString:
        return _run_link(call.run_id)

    @display(description="Result")
    def result_display(self, call: ToolCall) -> SafeString:
        return _pre(call.result)


def tool_call_named(object_id: Any, calls: QuerySet[ToolCall] | None = None) -> ToolCall | None:
    """The tool call an admin URL names (its id, as the admin quotes it), or None: an id that is not a number
    (".../abc/approve/") names none rather than reaching the database as a filter it cannot run."""
    key = unquote(str(object_id)) if object_id is not None else ""
    if not key.isdigit() or len(key) > MAX_ID_DIGITS:
        return None
    return (calls if calls is not None else ToolCall.objects.all()).filter(pk=int(key)).first()


def existing_call_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An approve or deny action (unfold's `@action` view, whose attributes it keeps: permissions, dialog) for an
    existing tool call only. Who may not decide is refused first, as before; then an id that names no call, or is
    not a number, gets the admin's usual answer to an object that does not exist (a change page's): a message and a
    redirect to the admin's index, never the dialog."""

    @wraps(view)
    def action_view(model_admin: PendingApprovalAdmin, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not model_admin.has_decide_permission(request):
            raise PermissionDenied
        object_id = kwargs.get("object_id", args[0] if args else None)
        if tool_call_named(object_id) is None:
            model_admin.message_user(
                request,
                gettext("%(name)s with ID \u201c%(key)s\u201d doesn\u2019t exist. Perhaps it was deleted?")
                % {"name": model_admin.opts.verbose_name, "key": unquote(str(object_id))},
                messages.WARNING,
            )
            return _back(request, reverse("admin:index", current_app=model_admin.admin_site.name))
        return view(model_admin, request, *args, **kwargs)

    return action_view


class DecisionForm(BaseDialogForm):
    """A staff decision on one call: an optional note (with a denial, the model is told it). Shows the call above
    the note, so that the approver sees what is approved."""

    note = forms.CharField(
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text="Optional. With a denial the model is told it, so that it can tell the user why.",
    )

    def render_before_template(self) -> SafeString:
        call = tool_call_named(self.object_id, ToolCall.objects.select_related("run", "run__agent", "run__owner"))
        if call is None:
            return format_html("{}", "")
        return format_html(
            '<dl class="flex flex-col gap-1 text-sm"><div><dt class="font-semibold inline">Tool:</dt> <dd '
            'class="inline">{}</dd></div><div><dt class="font-semibold inline">For:</dt> <dd class="inline">{} '
            '(agent {}, run #{})</dd></div><div><dt class="font-semibold">Arguments:</dt><dd>{}</dd></div></dl>',
            call.tool,
            call.run.owner,
            call.run.agent,
            call.run_id,
            _pre(call.arguments),
        )


@admin.register(PendingApproval)
class PendingApprovalAdmin(ToolCallColumns, ReadOnlyAdminMixin, ModelAdmin):
    """The queue: calls waiting for a decision, oldest first. Deciding needs the change permission on tool calls."""

    list_display = ("tool", "arguments_excerpt", "agent_display", "owner_display", "run_display", "requested_at")
    list_display_links = ("tool",)
    search_fields = ("tool", "run__owner__email")
    list_per_page = 50
    actions = ["approve_selected", "deny_selected"]
    actions_row = ["approve", "deny"]
    actions_detail = ["approve", "deny"]
    fields = (
        "tool",
        "toolset",
        "arguments_display",
        "agent_display",
        "owner_display",
        "run_display",
        "tool_call_id",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingApproval]:
        # The queue as selectors defines it, as rows of this proxy model (the admin's actions and URLs are its).
        queue = selectors.pending_approvals().values("pk")
        calls: QuerySet[PendingApproval] = super().get_queryset(request)
        return calls.filter(pk__in=queue).select_related("run", "run__agent", "run__owner").order_by("created_at", "id")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return bool(
            super().has_view_permission(request, obj)
            or user.has_perm("agents.view_toolcall")
            or self.has_decide_permission(request)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a call leaves the queue by a decision, or when its run is cancelled

    def has_decide_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return services.may_decide(request.user)

    @display(description="Requested at", ordering="created_at")
    def requested_at(self, call: ToolCall) -> Any:
        return call.created_at

    @existing_call_only
    @action(
        description="Approve",
        icon="check_circle",
        permissions=["decide"],
        dialog={
            "title": "Approve this tool call?",
            "description": "The tool runs with these arguments, as the user the run is for; then the run resumes.",
            "form_class": DecisionForm,
            "form_submit_text": "Approve",
        },
    )
    def approve(self, request: HttpRequest, form: DecisionForm, object_id: str) -> HttpResponse:
        self._decide(request, object_id, approve=True, note=form.cleaned_data["note"])
        return _back(request, reverse("admin:agents_pendingapproval_changelist"))

    @existing_call_only
    @action(
        description="Deny",
        icon="block",
        permissions=["decide"],
        dialog={
            "title": "Deny this tool call?",
            "description": "The tool does not run; the model is told that a staff member denied it, and why if you "
            "say so below. Then the run resumes.",
            "form_class": DecisionForm,
            "form_submit_text": "Deny",
        },
    )
    def deny(self, request: HttpRequest, form: DecisionForm, object_id: str) -> HttpResponse:
        self._decide(request, object_id, approve=False, note=form.cleaned_data["note"])
        return _back(request, reverse("admin:agents_pendingapproval_changelist"))

    @action(description="Approve the selected calls", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ToolCall]) -> None:
        self._decide_all(request, queryset, approve=True)

    @action(description="Deny the selected calls", permissions=["decide"])
    def deny_selected(self, request: HttpRequest, queryset: QuerySet[ToolCall]) -> None:
        self._decide_all(request, queryset, approve=False)

    def _decide(self, request: HttpRequest, object_id: str, *, approve: bool, note: str) -> None:
        call = tool_call_named(object_id)
        if call is None:
            self.message_user(request, f"No tool call #{object_id}.", messages.ERROR)
            return
        try:
            services.tool_call_decide(tool_call=call, by=request.user, approve=approve, note=note)
        except ToolCallNotPending as error:
            self.message_user(request, f"{call.tool} (call #{call.pk}): {error.message}", messages.WARNING)
            return
        verb = "Approved" if approve else "Denied"
        outcome = run_outcome(call.run_id)
        self.message_user(
            request,
            format_html("{} {} (call #{}): {} {}", verb, call.tool, call.pk, _run_link(call.run_id), outcome),
            messages.SUCCESS,
        )

    def _decide_all(self, request: HttpRequest, queryset: Iterable[ToolCall], *, approve: bool) -> None:
        decided: list[ToolCall] = []
        skipped = 0
        for call in list(queryset):
            try:
                services.tool_call_decide(tool_call=call, by=request.user, approve=approve)
            except ToolCallNotPending:
                skipped += 1
            else:
                decided.append(call)
        if decided:
            runs = sorted({call.run_id for call in decided})
            self.message_user(
                request,
                format_html(
                    "{} {} tool call(s). {}",
                    "Approved" if approve else "Denied",
                    len(decided),
                    format_html_join(" ", "{} {}", ((_run_link(run), run_outcome(run)) for run in runs)),
                ),
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                f"{skipped} call(s) skipped: already decided, or their run has ended.",
                messages.WARNING,
            )


def run_outcome(run_id: int) -> str:
    """Where a run stands after a decision, in words."""
    run = AgentRun.objects.defer("messages").get(pk=run_id)
    if run.status == RunStatus.WAITING_FOR_APPROVAL:
        waiting = selectors.pending_approvals().filter(run=run).count()
        return f"waits for {waiting} more decision(s)."
    if run.status == RunStatus.QUEUED:
        return "is queued to resume (a worker takes it)."
    if run.status == RunStatus.RUNNING:
        return "is resuming."
    if run.status == RunStatus.SUCCEEDED:
        return "resumed and succeeded."
    if run.status == RunStatus.FAILED:
        return f"resumed and failed: {run.error}"
    return "was cancelled."


def _back(request: HttpRequest, url: str) -> HttpResponse:
    """After a dialog's form: htmx follows HX-Redirect (a whole page load, with the messages); without htmx (the
    form opened as a page of its own), a plain redirect."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)
