"""What every tool of an agent run receives (pydantic-ai's `RunContext.deps`): the user the run acts for.

Toolsets scope every read and write to this user: a user's agent sees only what that user may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser


@dataclass
class ToolSpend:
    """What tools spent on models of their own (ask_knowbase's answer), beside the run's requests: added to the
    run's cost, and checked against its cost limit."""

    cost: Decimal | None = None

    def add(self, cost: Decimal | None) -> None:
        if cost is not None:
            self.cost = (self.cost or Decimal(0)) + cost


@dataclass(frozen=True)
class AgentDeps:
    user: AbstractBaseUser
    """Who started the run (the conversation's owner)"""
    run_id: int
    """The AgentRun's id (0 in toolset unit tests that run an agent without a record)"""
    agent_name: str
    recorded_calls: set[str] = field(default_factory=set)
    """The ids of the calls the audit wrapper recorded (the engine records the others: calls refused before they
    ran)"""
    spend: ToolSpend = field(default_factory=ToolSpend)
    """A tool that calls a model itself adds the tokens to `ctx.usage` (the run's limits see them) and the cost
    here"""
