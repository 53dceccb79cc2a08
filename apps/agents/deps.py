"""What every tool of an agent run receives (pydantic-ai's `RunContext.deps`): the user the run acts for.

Toolsets scope every read and write to this user: a user's agent sees only what that user may see."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class AgentDeps:
    user: AbstractBaseUser
    """Who started the run (the conversation's owner)"""
    run_id: int
    """The AgentRun's id (0 in toolset unit tests that run an agent without a record)"""
    agent_name: str
