"""The tasks toolset: start one of the background tasks of AGENTS__ALLOWED_TASKS (each start needs approval), and
for staff, read how a task run went. A tool its user can never use is not offered at all (its `prepare`): the task
tools while no task is allowed, task_status to anybody but staff."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from django.conf import settings
from django.tasks import Task
from django.utils.module_loading import import_string
from pydantic import Field as ArgField
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import FunctionToolset

from apps.agents.deps import AgentDeps
from apps.agents.toolsets import ToolsetSpec
from apps.tasks.models import TaskRun


def allowed_task(path: str) -> Task[Any, Any] | None:
    """The task at `path` if the allow-list names it and it is a django.tasks Task; otherwise None (a path that
    does not import is reported by the system checks, not here)."""
    if path not in settings.AGENTS["ALLOWED_TASKS"]:
        return None
    try:
        task = import_string(path)
    except ImportError:
        return None
    return task if isinstance(task, Task) else None


class _Written(str):
    """A postponed annotation (a string), shown as written: inspect would quote it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _written(annotation: Any) -> Any:
    return _Written(annotation) if isinstance(annotation, str) else annotation


def _signature(task: Task[Any, Any]) -> inspect.Signature:
    """What the caller passes to the task, e.g. `(a: int, b: int) -> int`."""
    signature = inspect.signature(task.func)
    parameters = [
        parameter.replace(annotation=_written(parameter.annotation)) for parameter in signature.parameters.values()
    ]
    # A task that takes its context gets it from the backend, not from the caller.
    if task.takes_context:
        parameters = parameters[1:]
    return signature.replace(parameters=parameters, return_annotation=_written(signature.return_annotation))


def _task_to_enqueue(task_path: str, args: list[Any], kwargs: dict[str, Any]) -> Task[Any, Any]:
    task = allowed_task(task_path)
    if task is None:
        allowed = ", ".join(settings.AGENTS["ALLOWED_TASKS"]) or "none"
        raise ModelRetry(f"{task_path!r} is not a task you may start. The tasks you may start: {allowed}.")
    signature = _signature(task)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise ModelRetry(f"{task_path}{signature}: {error}") from error
    return task


async def list_allowed_tasks(ctx: RunContext[AgentDeps]) -> dict[str, Any]:
    """List the background tasks you may start with enqueue_task.

    Returns `tasks`: each task's path (to pass as `task_path`), its parameters and what it does.
    """
    tasks = []
    for path in settings.AGENTS["ALLOWED_TASKS"]:
        task = allowed_task(path)
        if task is not None:
            tasks.append(
                {
                    "task_path": path,
                    "parameters": str(_signature(task)),
                    "description": inspect.getdoc(task.func) or "",
                }
            )
    # An object, not a bare list: an empty list would reach the model as an empty text.
    return {"tasks": tasks}


async def _may_enqueue(
    ctx: RunContext[AgentDeps],
    task_path: str,
    args: list[Any],
    kwargs: dict[str, Any],
) -> None:
    # Runs before the call is put to the approver: nobody is asked to approve a task that may not be started.
    _task_to_enqueue(task_path, args, kwargs)


async def enqueue_task(
    ctx: RunContext[AgentDeps],
    task_path: str,
    args: Annotated[list[Any], ArgField(default_factory=list)],
    kwargs: Annotated[dict[str, Any], ArgField(default_factory=dict)],
) -> dict[str, Any]:
    """Start a background task from list_allowed_tasks. Needs approval.

    Returns the task run's id (for task_status) and its status.

    Args:
        task_path: The task's path, as list_allowed_tasks gives it.
        args: The task's positional arguments (JSON values).
        kwargs: The task's keyword arguments (JSON values).
    """
    # Checked again: the allow-list may have changed between the request and its approval.
    task = _task_to_enqueue(task_path, args, kwargs)
    result = await task.aenqueue(*args, **kwargs)
    return {"task_id": result.id, "task_path": task_path, "status": result.status}


async def task_status(ctx: RunContext[AgentDeps], task_id: str) -> dict[str, Any]:
    """How a task run went (staff only): its task, status and times.

    Args:
        task_id: The id enqueue_task returned.
    """
    if not getattr(ctx.deps.user, "is_staff", False):
        raise ModelRetry("Only staff may read the status of task runs.")
    run = await TaskRun.objects.filter(pk=task_id).afirst()
    if run is None:
        raise ModelRetry(f"No task run {task_id!r}.")
    return {
        "task_id": run.pk,
        "task_path": run.task_path,
        "status": run.status,
        "attempts": run.attempts,
        "enqueued_at": run.enqueued_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error_class": run.error_class,
    }


async def _when_tasks_are_allowed(ctx: RunContext[AgentDeps], tool: ToolDefinition) -> ToolDefinition | None:
    """list_allowed_tasks and enqueue_task are offered only while AGENTS__ALLOWED_TASKS names a task: with none,
    the model is not shown tools it could only fail with (read per step: the setting may change)."""
    return tool if settings.AGENTS["ALLOWED_TASKS"] else None


async def _for_staff(ctx: RunContext[AgentDeps], tool: ToolDefinition) -> ToolDefinition | None:
    """task_status is offered to staff only: a user's model never sees it (the tool checks again)."""
    return tool if getattr(ctx.deps.user, "is_staff", False) else None


def build() -> FunctionToolset[AgentDeps]:
    toolset = FunctionToolset[AgentDeps](id="tasks", docstring_format="google", require_parameter_descriptions=True)
    toolset.add_function(list_allowed_tasks, prepare=_when_tasks_are_allowed)
    toolset.add_function(
        enqueue_task, requires_approval=True, args_validator=_may_enqueue, prepare=_when_tasks_are_allowed
    )
    toolset.add_function(task_status, prepare=_for_staff)
    return toolset


SPEC = ToolsetSpec(
    name="tasks",
    label="Background tasks",
    description="Start the allow-listed background tasks (AGENTS__ALLOWED_TASKS; each start needs approval); staff "
    "may also read how a task run went.",
    build=build,
    requires_app="tasks",
)
