"""A project extends the config with its own models and settings."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import Field

from cfg.exceptions import SettingsCollisionError
from cfg.models.base import CommaList, ConfigModel
from config.config import ProjectConfig

from .conftest import Project


class BillingConfig(ConfigModel):
    provider: Literal["stripe", "paddle"] = "stripe"
    seats: int = Field(default=1, ge=1)
    currencies: CommaList = Field(default_factory=lambda: ["EUR"])


class BilledConfig(ProjectConfig):
    billing: BillingConfig = Field(default_factory=BillingConfig)

    def extra_settings(self) -> dict[str, Any]:
        return {
            "BILLING_PROVIDER": self.billing.provider,
            "BILLING_SEATS": self.billing.seats,
            "BILLING_CURRENCIES": list(self.billing.currencies),
        }


class CollidingConfig(ProjectConfig):
    def extra_settings(self) -> dict[str, Any]:
        return {"MY_FLAG": True, "DEBUG": True}


def test_own_config_model_loads_from_env_yaml_and_defaults(project: Project) -> None:
    assert project.load({"DJANGO_ENV": "test"}, BilledConfig).billing == BillingConfig()
    project.yaml("test", "billing:\n  provider: paddle\n  seats: 3\n")
    config = project.load({"DJANGO_ENV": "test", "BILLING__SEATS": "5", "BILLING__CURRENCIES": "EUR,USD"}, BilledConfig)
    assert config.billing == BillingConfig(provider="paddle", seats=5, currencies=["EUR", "USD"])


def test_own_settings_are_composed_last(project: Project) -> None:
    config = project.load({"DJANGO_ENV": "test", "BILLING__SEATS": "7"}, BilledConfig)
    settings = config.get_all_settings()
    assert (settings["BILLING_PROVIDER"], settings["BILLING_SEATS"], settings["BILLING_CURRENCIES"]) == (
        "stripe",
        7,
        ["EUR"],
    )
    assert list(settings)[-3:] == ["BILLING_PROVIDER", "BILLING_SEATS", "BILLING_CURRENCIES"]
    assert settings["ROOT_URLCONF"] == "config.urls"


def test_own_model_errors_are_as_readable_as_the_core_ones(project: Project) -> None:
    project.yaml("test", "billing:\n  provider: paypal\n")
    assert project.problems({"DJANGO_ENV": "test", "BILLING__SEATS": "0"}, BilledConfig) == [
        "Invalid configuration: billing.provider (from config/environments/test.yaml key billing.provider): "
        "must be one of 'stripe', 'paddle' (got 'paypal'). "
        "Fix: set billing.provider in config/environments/test.yaml to one of 'stripe', 'paddle'",
        "Invalid configuration: billing.seats (from env var BILLING__SEATS): must be at least 1 (got '0'). "
        "Fix: set BILLING__SEATS to 1 or more",
    ]


def test_the_base_project_ignores_the_extension_keys(project: Project) -> None:
    # BILLING__* names no field of the plain project config, so it is not read (and not an error).
    assert not hasattr(project.load({"DJANGO_ENV": "test", "BILLING__SEATS": "0"}), "billing")


def test_extra_settings_colliding_with_a_core_key_is_refused(project: Project) -> None:
    config = project.load({"DJANGO_ENV": "test"}, CollidingConfig)
    with pytest.raises(SettingsCollisionError) as info:
        config.get_all_settings()
    assert str(info.value) == "setting DEBUG is produced by both core and project"
