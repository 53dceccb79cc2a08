"""The toolsets an agent definition may use, by name. Each is a real pydantic-ai toolset over the project's own data,
scoped to the user the run acts for (AgentDeps.user).

A toolset module exposes `SPEC`, a ToolsetSpec; TOOLSET_MODULES lists them. A toolset whose app is not installed
(leads, support) is left out, so a definition cannot name it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from django.apps import apps

if TYPE_CHECKING:
    from pydantic_ai.toolsets import AbstractToolset

    from apps.agents.deps import AgentDeps

TOOLSET_MODULES = (
    "apps.agents.toolsets.knowbase",
    "apps.agents.toolsets.database",
    "apps.agents.toolsets.tasks",
    "apps.agents.toolsets.leads",
    "apps.agents.toolsets.support",
)


@dataclass(frozen=True)
class ToolsetSpec:
    name: str
    """Stored on AgentDefinition.toolsets: a slug, never renamed"""
    label: str
    description: str
    build: Callable[[], AbstractToolset[AgentDeps]]
    requires_app: str = ""
    """The app label that must be installed for the toolset to be offered"""


@cache
def available_toolsets() -> dict[str, ToolsetSpec]:
    specs: dict[str, ToolsetSpec] = {}
    for path in TOOLSET_MODULES:
        spec: ToolsetSpec = import_module(path).SPEC
        if not spec.requires_app or apps.is_installed(f"apps.{spec.requires_app}"):
            specs[spec.name] = spec
    return specs


@cache
def toolset(name: str) -> AbstractToolset[AgentDeps]:
    """The toolset, built once per process: a toolset holds its tools' schemas and no state of a run (each call gets
    the run's context), so every run shares it. KeyError when it is not available."""
    return available_toolsets()[name].build()


def toolset_choices() -> list[tuple[str, str]]:
    return [(spec.name, spec.label) for spec in available_toolsets().values()]
