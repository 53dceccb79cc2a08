"""Agents: what an agent is (AgentDefinition), a user's thread with one (Conversation), each run of it (AgentRun)
with every tool call (ToolCall) and the events a client streams (RunEvent)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator
from django.db import models


class Access(models.TextChoices):
    STAFF = "staff", "Staff only"
    USERS = "users", "All signed-in users"
    GROUPS = "groups", "Members of the chosen groups (and staff)"


class AgentDefinition(models.Model):
    name = models.SlugField(max_length=80, unique=True, help_text="How the API and `agent_run` name the agent")
    description = models.CharField(max_length=500, blank=True)
    instructions = models.TextField(help_text="The system instructions the model gets on every run")
    model = models.CharField(
        max_length=200, blank=True, help_text="A model name of the configured provider; empty: LLM__CHAT_MODEL"
    )
    toolsets = models.JSONField(default=list, blank=True, help_text="Names of the toolsets this agent may use")
    output_schema = models.JSONField(
        null=True, blank=True, help_text="A JSON schema (an object) the answer must follow; empty: text"
    )
    request_limit = models.PositiveIntegerField(default=20, validators=[MinValueValidator(1)])
    tool_calls_limit = models.PositiveIntegerField(default=20)
    total_tokens_limit = models.PositiveIntegerField(default=100_000, validators=[MinValueValidator(1)])
    cost_limit = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="US dollars per run (needs the LLM__PRICE_* prices); empty: no limit",
    )
    is_active = models.BooleanField(default=True)
    access = models.CharField(max_length=10, choices=Access.choices, default=Access.STAFF)
    groups = models.ManyToManyField(Group, blank=True, related_name="agents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "agent"

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_conversations")
    agent = models.ForeignKey(AgentDefinition, on_delete=models.PROTECT, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING_FOR_APPROVAL = "waiting_for_approval", "Waiting for approval"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL)


class AgentRun(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="runs")
    # Copies of the conversation's, so that the admin, the stats and the isolation checks need no join.
    agent = models.ForeignKey(AgentDefinition, on_delete=models.PROTECT, related_name="runs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_runs")
    status = models.CharField(max_length=24, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    input = models.TextField()
    output = models.JSONField(null=True, blank=True, help_text="The answer: text, or an object for a schema")
    messages = models.JSONField(
        default=list, blank=True, help_text="The message history (pydantic-ai's ModelMessagesTypeAdapter)"
    )
    model_name = models.CharField(max_length=200, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    tool_calls_count = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0, help_text="Time spent running (paused time excluded)")
    error_code = models.CharField(max_length=60, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last took the run")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["owner", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.agent_id} ({self.status})"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ToolCallStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    DENIED = "denied", "Denied"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"


class ToolCall(models.Model):
    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="tool_calls")
    tool_call_id = models.CharField(max_length=200, help_text="The model's id for the call")
    toolset = models.CharField(max_length=80, blank=True)
    tool = models.CharField(max_length=200)
    arguments = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=ToolCallStatus.choices, db_index=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    requires_approval = models.BooleanField(default=False)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "tool_call_id"], name="agents_toolcall_unique_per_run")]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status})"


class PendingApproval(ToolCall):
    """The admin's queue of tool calls waiting for a staff decision."""

    class Meta:
        proxy = True
        verbose_name = "pending approval"


class RunEvent(models.Model):
    """What a client streams, in order: text, tool calls and results, approval requests, the status, the result."""

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="agents_runevent_unique_seq")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq}"
