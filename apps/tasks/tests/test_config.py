from __future__ import annotations

import pytest
import rearq.constants

from apps.tasks import keys
from cfg.exceptions import ConfigurationError
from config.config import ProjectConfig


def load(**environ: str) -> ProjectConfig:
    return ProjectConfig.load(environ={"DJANGO_ENV": "test", **environ})


def test_rearq_backend_settings_and_worker_health_check():
    settings = load(TASKS__BACKEND="rearq", REDIS_URL="redis://127.0.0.1:6379/11", TASKS__QUEUES="default,mail")
    generated = settings.get_all_settings()
    default = generated["TASKS"]["default"]
    assert default["BACKEND"] == "apps.tasks.backends.ReArqBackend"
    assert default["QUEUES"] == ["default", "mail"]
    assert default["OPTIONS"]["redis_url"] == "redis://127.0.0.1:6379/11"
    assert generated["HEALTH_CHECKS"]["worker"] == "apps.tasks.health.check_worker_heartbeat"


def test_immediate_backend_without_redis():
    generated = load().get_all_settings()
    assert generated["TASKS"]["default"]["BACKEND"] == "django.tasks.backends.immediate.ImmediateBackend"
    # The check stays listed while the app is on; with the immediate backend it passes (no worker is needed).
    assert generated["HEALTH_CHECKS"]["worker"] == "apps.tasks.health.check_worker_heartbeat"


def test_the_worker_check_goes_with_the_tasks_app():
    # The agents and newsletter apps require tasks: they are switched off with it.
    settings = load(ENABLE_TASKS="false", ENABLE_AGENTS="false", ENABLE_NEWSLETTER="false").get_all_settings()
    assert "worker" not in settings["HEALTH_CHECKS"]


def test_the_worker_check_passes_with_the_immediate_backend():
    from apps.tasks.health import check_worker_heartbeat

    assert check_worker_heartbeat().startswith("no worker needed")


def test_an_apps_own_schedules_run_while_it_is_enabled_and_a_configured_one_replaces_them_by_name():
    schedules = load().get_all_settings()["TASKS_PERIODIC"]
    assert schedules["support_sla_check"]["task"] == "apps.support.tasks.sla_check"
    assert schedules["support_auto_close"]["task"] == "apps.support.tasks.auto_close"
    assert "support_sla_check" not in load(ENABLE_SUPPORT="false").get_all_settings()["TASKS_PERIODIC"]
    replaced = load(
        TASKS__PERIODIC__SUPPORT_SLA_CHECK__TASK="apps.support.tasks.sla_check",
        TASKS__PERIODIC__SUPPORT_SLA_CHECK__CRON="*/5 * * * *",
    ).get_all_settings()["TASKS_PERIODIC"]
    assert replaced["support_sla_check"]["cron"] == "*/5 * * * *"
    assert replaced["support_auto_close"]["cron"] == "17 * * * *"


def test_periodic_schedules_are_validated():
    config = load(TASKS__PERIODIC__NIGHTLY__TASK="apps.tasks.probes.ping", TASKS__PERIODIC__NIGHTLY__CRON="0 3 * * *")
    assert config.get_all_settings()["TASKS_PERIODIC"]["nightly"]["cron"] == "0 3 * * *"
    with pytest.raises(ConfigurationError, match="not a cron expression"):
        load(TASKS__PERIODIC__NIGHTLY__TASK="apps.tasks.probes.ping", TASKS__PERIODIC__NIGHTLY__CRON="every night")


def test_leases_must_outlive_heartbeats():
    with pytest.raises(ConfigurationError, match="at least twice heartbeat_interval"):
        load(TASKS__VISIBILITY_TIMEOUT="4", TASKS__HEARTBEAT_INTERVAL="3")


def test_key_names_match_rearq():
    assert keys.QUEUE_KEY_PREFIX == rearq.constants.QUEUE_KEY_PREFIX
    assert keys.WORKER_KEY == rearq.constants.WORKER_KEY


def test_drain_timeout_and_sweep_reach_the_backend_options():
    generated = load(
        TASKS__BACKEND="rearq",
        REDIS_URL="redis://127.0.0.1:6379/11",
        TASKS__DRAIN_TIMEOUT="10",
        TASKS__LOST_AFTER="120",
        TASKS__SWEEP_INTERVAL="15",
    ).get_all_settings()
    options = generated["TASKS"]["default"]["OPTIONS"]
    assert (options["drain_timeout"], options["lost_after"], options["sweep_interval"]) == (10, 120, 15)
    assert load().tasks.drain_timeout == 25  # under the 30 s grace period of Kubernetes and our compose file


def test_lost_after_must_outlast_a_few_heartbeats():
    with pytest.raises(ConfigurationError, match=r"lost_after \(10 s\) must be at least three heartbeat_interval"):
        load(TASKS__LOST_AFTER="10", TASKS__HEARTBEAT_INTERVAL="5")
    with pytest.raises(ConfigurationError, match="drain_timeout"):
        load(TASKS__DRAIN_TIMEOUT="-1")
