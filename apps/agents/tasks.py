from __future__ import annotations

from django.tasks import task

from apps.agents.engine import run_execute


@task
def execute_agent_run(run_id: int) -> str:
    """Run one queued agent run to its end, or to its next pause for a staff decision (apps.agents.engine)."""
    return run_execute(run_id=run_id)
