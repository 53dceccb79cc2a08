from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig


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
            "RUN_TIMEOUT": agents.run_timeout,
            "DEFAULT_REQUEST_LIMIT": agents.default_request_limit,
            "DEFAULT_TOOL_CALLS_LIMIT": agents.default_tool_calls_limit,
            "DEFAULT_TOTAL_TOKENS_LIMIT": agents.default_total_tokens_limit,
            "DEFAULT_COST_LIMIT": agents.default_cost_limit,
            "ORM_MAX_ROWS": agents.orm_max_rows,
            "THROTTLE_RATES": {"agents_message": agents.throttle_message},
        }
    }
