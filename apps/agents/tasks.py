from __future__ import annotations

from typing import Any

from django.tasks import TaskContext, task


@task(takes_context=True)
def execute_agent_run(context: TaskContext[Any, Any], run_id: int) -> str:
    """Run one queued agent run to its end, or to its next pause for a staff decision (apps.agents.engine). A
    second attempt means the worker of the first died (or was stopped) mid-run: it takes the run over."""
    # The engine brings pydantic-ai and the provider's SDK: only a process that runs an agent loads them.
    from apps.agents.engine import run_execute

    return run_execute(run_id=run_id, redelivered=context.attempt > 1)
