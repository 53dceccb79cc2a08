"""Rows for agents tests, made the way the application makes them (through the services)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission

from apps.agents import services
from apps.agents.models import Access, AgentDefinition, AgentRun, Conversation
from apps.knowbase.tests.factories import client_for, staff_create, user_create

__all__ = [
    "agent_create",
    "approver_create",
    "client_for",
    "conversation_for",
    "run_refresh",
    "staff_create",
    "user_create",
]


def agent_create(
    name: str = "helper",
    *,
    toolsets: list[str] | None = None,
    access: str = Access.USERS,
    instructions: str = "You answer from the user's documents and cite them.",
    **fields: Any,
) -> AgentDefinition:
    return AgentDefinition.objects.create(
        name=name, instructions=instructions, toolsets=toolsets or [], access=access, **fields
    )


def approver_create(email: str = "approver@example.com") -> Any:
    """A staff member who may decide tool calls: staff with the permission to change them."""
    user = staff_create(email)
    user.user_permissions.add(Permission.objects.get(codename="change_toolcall", content_type__app_label="agents"))
    return user


def conversation_for(user: Any, agent: AgentDefinition, title: str = "") -> Conversation:
    return services.conversation_create(owner=user, agent=agent, title=title)


def run_refresh(run: AgentRun) -> AgentRun:
    return AgentRun.objects.get(pk=run.pk)
