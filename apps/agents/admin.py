"""Unfold admin for agents: the definitions (toolsets offered by name, the output schema checked as pydantic-ai will
use it, the usage limits, who may run each), conversations, runs and tool calls as read-only records (a run's
message history shown readably, with its tool calls), and the queue of tool calls waiting for a staff decision.

Decisions go through services.tool_call_decide: when a run's last pending call is decided, its task is queued again;
with the immediate backend (development without Redis) the run resumes inline, in the admin request, so the message
after the decision already tells how the run ended."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from pydantic_ai import StructuredDict
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
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
# A message part longer than this is shown cut short on a run's page (the run keeps all of it).
PART_CHARS = 4000
# Arguments and results in lists: one line each.
CELL_CHARS = 120


# --- Agent definitions ----------------------------------------------------------------------------------------------


def schema_problem(schema: Any) -> str | None:
    """Why `schema` cannot be an agent's output schema, or None: it must be a JSON schema of an object whose parts
    are schemas with JSON types, and pydantic-ai's StructuredDict must take it (the engine builds the answer's type
    with it on every run)."""
    if not isinstance(schema, dict):
        return "Give a JSON object ({…}): a JSON schema of the answer, not a list, a string or a number."
    if schema.get("type") != "object":
        return 'The answer must be an object: give the schema "type": "object" and its "properties".'
    problem = _subschema_problem(schema, "the schema")
    if problem:
        return problem
    try:
        StructuredDict(copy.deepcopy(schema), name="answer")  # it writes into the schema it is given
    except Exception as error:  # pydantic-ai's UserError, or pydantic's on a schema it cannot read
        return f"pydantic-ai cannot use this schema: {error}"
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


@admin.register(AgentDefinition)
class AgentDefinitionAdmin(ModelAdmin):
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentDefinition]:
        agents: QuerySet[AgentDefinition] = super().get_queryset(request)
        return agents.annotate(runs_total=Count("runs"))

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

    @display(description="Runs", ordering="runs_total")
    def runs_count(self, agent: AgentDefinition) -> int:
        return int(getattr(agent, "runs_total", 0))


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


class RunInline(TabularInline):
    model = AgentRun
    fields = ("created_at", "status", "input", "output_excerpt", "tokens")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
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
class ConversationAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("__str__", "owner", "agent", "runs_count", "updated_at")
    list_filter = ("agent",)
    search_fields = ("title", "owner__email")
    list_select_related = ("owner", "agent")
    date_hierarchy = "created_at"
    fields = ("title", "owner", "agent", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (RunInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        conversations: QuerySet[Conversation] = super().get_queryset(request)
        return conversations.annotate(runs_total=Count("runs"))

    @display(description="Runs", ordering="runs_total")
    def runs_count(self, conversation: Conversation) -> int:
        return int(getattr(conversation, "runs_total", 0))


class ToolCallInline(TabularInline):
    model = ToolCall
    fields = ("tool", "status", "decision", "arguments_excerpt", "result_excerpt", "duration_ms")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    @display(description="Arguments")
    def arguments_excerpt(self, call: ToolCall) -> str:
        return _short(call.arguments)

    @display(description="Result")
    def result_excerpt(self, call: ToolCall) -> str:
        return _short(call.error or call.result)


class CancelForm(BaseDialogForm):
    """The confirmation of a run's cancellation (a POST, with its CSRF token)."""


RUN_FIELDS = (
    "status_text",
    "agent",
    "owner",
    "conversation_link",
    "input",
    "output_display",
    "error_code",
    "error",
    "model_name",
    "input_tokens",
    "output_tokens",
    "requests",
    "tool_calls_count",
    "cost_display",
    "duration_display",
    "cancel_requested",
    "created_at",
    "started_at",
    "finished_at",
    "messages_display",
)


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "run_display",
        "status_label",
        "agent",
        "owner",
        "input_tokens",
        "output_tokens",
        "requests",
        "tool_calls_count",
        "cost_display",
        "duration_display",
        "created_at",
    )
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
        (
            "Usage",
            {
                "fields": (
                    "model_name",
                    "input_tokens",
                    "output_tokens",
                    "requests",
                    "tool_calls_count",
                    "cost_display",
                    "duration_display",
                )
            },
        ),
        ("Times", {"fields": ("cancel_requested", "created_at", "started_at", "finished_at")}),
        ("Messages", {"fields": ("messages_display",)}),
    )
    readonly_fields = RUN_FIELDS

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

    @display(description="Status", ordering="status", label=RUN_LABELS)
    def status_label(self, run: AgentRun) -> tuple[str, str]:
        return run.status, run.get_status_display()

    @display(description="Status")
    def status_text(self, run: AgentRun) -> str:
        return str(run.get_status_display())

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
            self.message_user(request, f"{stopping} running run(s) asked to stop (within a second).", messages.SUCCESS)
        if finished:
            self.message_user(request, f"{finished} run(s) skipped: already finished.", messages.WARNING)

    @action(
        description="Cancel",
        icon="cancel",
        permissions=["cancel"],
        dialog={
            "title": "Cancel this run?",
            "description": "A queued or paused run ends at once (its pending tool calls are denied); a running one "
            "stops within a second.",
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
        return "Tool result", f"{part.get('tool_name', '')} · {part.get('tool_call_id', '')}", _text(content)
    if kind == "retry-prompt":
        tool = part.get("tool_name") or ""
        return "Retry", f"{tool} · {part.get('tool_call_id', '')}" if tool else "", _text(content)
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
                return "Tool call", f"{part.get('tool_name', '')} · {part.get('tool_call_id', '')}", args
        return "Tool call", f"{part.get('tool_name', '')} · {part.get('tool_call_id', '')}", _text(args)
    if kind == "thinking":
        return "Thinking", "", _text(part.get("content"))
    return str(kind or "Response"), "", _text(part)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2)


def _cut(text: str) -> str:
    return text if len(text) <= PART_CHARS else f"{text[:PART_CHARS]}… ({len(text):,} characters in all)"


# --- Tool calls and the approval queue ------------------------------------------------------------------------------


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyAdminMixin, ModelAdmin):
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
    readonly_fields = (
        "tool",
        "toolset",
        "status_text",
        "run_display",
        "agent_display",
        "owner_display",
        "tool_call_id",
        "arguments_display",
        "result_display",
        "error",
        "duration_ms",
        "requires_approval",
        "decision",
        "decided_by",
        "decided_at",
        "decision_note",
        "created_at",
        "finished_at",
    )

    @display(description="Status", ordering="status", label=CALL_LABELS)
    def status_label(self, call: ToolCall) -> tuple[str, str]:
        return call.status, call.get_status_display()

    @display(description="Status")
    def status_text(self, call: ToolCall) -> str:
        return str(call.get_status_display())

    @display(description="Run", ordering="run")
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

    @display(description="Result")
    def result_display(self, call: ToolCall) -> SafeString:
        return _pre(call.result)


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
        call = ToolCall.objects.select_related("run", "run__agent", "run__owner").filter(pk=self.object_id).first()
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
class PendingApprovalAdmin(ReadOnlyAdminMixin, ModelAdmin):
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

    @display(description="Arguments")
    def arguments_excerpt(self, call: ToolCall) -> str:
        return _short(call.arguments)

    @display(description="Arguments")
    def arguments_display(self, call: ToolCall) -> SafeString:
        return _pre(call.arguments)

    @display(description="Agent")
    def agent_display(self, call: ToolCall) -> str:
        return str(call.run.agent)

    @display(description="For")
    def owner_display(self, call: ToolCall) -> str:
        return str(call.run.owner)

    @display(description="Run")
    def run_display(self, call: ToolCall) -> SafeString:
        return _run_link(call.run_id)

    @display(description="Requested at", ordering="created_at")
    def requested_at(self, call: ToolCall) -> Any:
        return call.created_at

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
        call = ToolCall.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
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
