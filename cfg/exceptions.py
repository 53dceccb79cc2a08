"""Errors raised by the configuration framework.

A configuration mistake is reported as one readable line per problem: the field path,
where the value came from, what is wrong, and how to fix it. No traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class CfgError(Exception):
    """Base class of every error cfg raises."""


@dataclass(frozen=True)
class ConfigProblem:
    field: str
    origin: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field} (from {self.origin}): {self.problem}. Fix: {self.fix}"


@dataclass(frozen=True)
class UnknownSection(ConfigProblem):
    """A variable named like a setting of a section that does not exist; `field` is the variable as written."""

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}; {self.fix}"


class ConfigurationError(CfgError):
    """The configuration is invalid; `problems` lists each mistake."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__(self.message)

    @property
    def message(self) -> str:
        lines = [f"Invalid configuration: {problem}" for problem in self.problems]
        return "\n".join(lines)


class RegistryError(CfgError, AttributeError):
    """A public name is not in the registry or does not resolve."""


class SettingsCollisionError(CfgError):
    """Two settings generators produced the same key."""


class RuleViolation(CfgError):
    """Raised by DjangoConfig's cross-field rules; the loader adds where each value came from."""

    def __init__(self, violations: list[tuple[tuple[str, ...], str, str]]) -> None:
        self.violations = violations  # (field path, what is wrong, how to fix it)
        super().__init__("; ".join(f"{'.'.join(path)}: {problem}" for path, problem, _ in violations))
