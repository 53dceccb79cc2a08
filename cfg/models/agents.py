"""The agents app: what its toolsets may read and start, the default usage limits of new agents, and its API's
bounds."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from cfg.models.base import CommaList, ConfigModel, Rate, split_commas

MODEL_LABEL = re.compile(r"^[a-z_][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Never readable by an agent, whatever the allow-list says: credentials and codes.
SECRET_FIELD = re.compile(r"password|secret|token|api_key|otp|code_hash|private_key", re.IGNORECASE)


class OrmModelAccess(ConfigModel):
    """One model the database toolset may read, and which of its fields."""

    model: str
    """app_label.ModelName, e.g. knowbase.Document"""
    fields: tuple[str, ...]
    """The fields a query may return, filter and order on (never a password, token or secret)"""
    owner_field: str = ""
    """The field that points to the user who owns a row: other users' rows are never read. Without one, the model
    is readable by staff only"""

    @field_validator("model")
    @classmethod
    def _model_label(cls, value: str) -> str:
        if not MODEL_LABEL.match(value):
            raise ValueError(f"{value!r} is not app_label.ModelName (e.g. knowbase.Document)")
        return value

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one field")
        for name in value:
            if not FIELD_NAME.match(name):
                raise ValueError(f"{name!r} is not a field name (lower case, digits and _; no lookups)")
            if SECRET_FIELD.search(name):
                raise ValueError(
                    f"{name!r} looks like a credential, which agents never read; remove it from the fields"
                )
        return value


OrmModels = Annotated[tuple[OrmModelAccess, ...], BeforeValidator(split_commas)]

DEFAULT_ORM_MODELS: tuple[OrmModelAccess, ...] = (
    OrmModelAccess(
        model="knowbase.Document",
        fields=(
            "id",
            "title",
            "source_name",
            "status",
            "visibility",
            "category",
            "chunk_count",
            "created_at",
            "updated_at",
        ),
        owner_field="owner",
    ),
    OrmModelAccess(model="knowbase.Category", fields=("id", "name", "slug")),
    OrmModelAccess(
        model="tasks.TaskRun",
        fields=(
            "id",
            "task_path",
            "queue",
            "status",
            "attempts",
            "enqueued_at",
            "started_at",
            "finished_at",
            "error_class",
        ),
    ),
)


class AgentsConfig(ConfigModel):
    orm_models: OrmModels = Field(
        default=DEFAULT_ORM_MODELS,
        description="Models and fields the database toolset may read (JSON list of {model, fields, owner_field})",
    )
    allowed_tasks: CommaList = Field(
        default=(),
        description="Tasks the tasks toolset may enqueue (module.function paths); each enqueue needs staff approval",
    )
    queue: str = Field(
        default="default",
        description="The task queue agent runs go to (one of TASKS__QUEUES): a queue of their own keeps long runs "
        "from holding up other tasks",
    )
    max_prompt_chars: int = Field(default=8000, ge=100, le=200_000, description="Longest message a user may send")
    history_runs: int = Field(
        default=20, ge=0, le=500, description="Earlier runs of a conversation given to the model as its history"
    )
    run_timeout: float = Field(
        default=240,
        gt=0,
        le=3600,
        description="Seconds a run may take before it fails (a hung provider or tool); at most TASKS__TIMEOUT - 30",
    )
    default_request_limit: int = Field(default=20, ge=1, le=1000, description="Model requests per run, for new agents")
    default_tool_calls_limit: int = Field(default=20, ge=0, le=1000, description="Tool calls per run, for new agents")
    default_total_tokens_limit: int = Field(
        default=100_000, ge=1, description="Tokens (in and out) per run, for new agents"
    )
    default_cost_limit: Decimal | None = Field(
        default=None,
        ge=0,
        description="Cost per run in US dollars, for new agents (needs the LLM__PRICE_*_PER_MILLION prices)",
    )
    orm_max_rows: int = Field(default=50, ge=1, le=1000, description="Most rows one database tool call returns")
    throttle_message: Rate = Field(default="30/minute", description="Messages (new runs) per user")

    @field_validator("allowed_tasks")
    @classmethod
    def _task_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not re.match(r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$", path):
                raise ValueError(f"{path!r} is not a module.function path (e.g. apps.knowbase.tasks.process_document)")
        return value
