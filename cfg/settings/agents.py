from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig

# Seconds a run leaves between its own time limit and its task's, to record its outcome.
RUN_TIMEOUT_MARGIN = 30


def run_timeout(configured: float, task_timeout: int) -> float:
    """A run ends before its task times out: a timed-out task is tried again, and its second attempt would take the
    run over while the first still runs. So the run's limit is capped at the task's less a margin (half the task's
    time when that is shorter)."""
    return min(configured, max(task_timeout - RUN_TIMEOUT_MARGIN, task_timeout / 2))


def agents_settings(config: CoreConfig) -> dict[str, Any]:
    """AGENTS: the toolsets' allow-lists, default usage limits and API bounds read by apps.agents."""
    agents = config.agents
    return {
        "AGENTS": {
            "ORM_MODELS": [
                {"MODEL": access.model, "FIELDS": list(access.fields), "OWNER_FIELD": access.owner_field}
                for access in agents.orm_models
            ],
            "ALLOWED_TASKS": list(agents.allowed_tasks),
            "QUEUE": agents.queue,
            "MAX_PROMPT_CHARS": agents.max_prompt_chars,
            "HISTORY_RUNS": agents.history_runs,
            "RUN_TIMEOUT": run_timeout(agents.run_timeout, config.tasks.timeout),
            "DEFAULT_REQUEST_LIMIT": agents.default_request_limit,
            "DEFAULT_TOOL_CALLS_LIMIT": agents.default_tool_calls_limit,
            "DEFAULT_TOTAL_TOKENS_LIMIT": agents.default_total_tokens_limit,
            "DEFAULT_COST_LIMIT": agents.default_cost_limit,
            "ORM_MAX_ROWS": agents.orm_max_rows,
            "THROTTLE_RATES": {"agents_message": agents.throttle_message},
        }
    }
