from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tasks.models import TaskRun
from apps.tasks.tests.factories import make_run

pytestmark = pytest.mark.django_db


def test_staff_list_runs_filtered_by_status_queue_and_task(staff_client):
    ok = make_run()
    failed = make_run(status="FAILED", queue="mail", task_path="apps.tasks.tests.jobs.fail")

    body = staff_client.get("/api/tasks/runs/").json()
    assert {run["id"] for run in body["results"]} == {ok.id, failed.id}
    assert [run["id"] for run in staff_client.get("/api/tasks/runs/?status=FAILED").json()["results"]] == [failed.id]
    assert [run["id"] for run in staff_client.get("/api/tasks/runs/?queue=mail").json()["results"]] == [failed.id]
    assert [run["id"] for run in staff_client.get("/api/tasks/runs/?task=add").json()["results"]] == [ok.id]
    by_path = staff_client.get("/api/tasks/runs/?task=apps.tasks.tests.jobs.fail").json()
    assert [run["id"] for run in by_path["results"]] == [failed.id]


def test_the_list_runs_a_fixed_number_of_queries(staff_client):
    for _ in range(3):
        make_run()
    staff_client.get("/api/tasks/runs/")  # warm up: the first request also loads the session
    with CaptureQueriesContext(connection) as few:
        staff_client.get("/api/tasks/runs/")
    for _ in range(10):
        make_run(status="FAILED")
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get("/api/tasks/runs/")
    assert response.json()["count"] == 13
    assert len(many) == len(few)


def test_detail_shows_the_traceback(staff_client):
    failed = make_run(status="FAILED")
    body = staff_client.get(f"/api/tasks/runs/{failed.id}/").json()
    assert body["status"] == "FAILED"
    assert body["error_class"] == "builtins.ValueError"
    assert "ValueError: x" in body["traceback"]
    assert staff_client.get("/api/tasks/runs/nope/").status_code == 404


def test_stats_count_by_status_and_the_last_hour(staff_client):
    make_run()
    make_run(status="FAILED")
    make_run(status="FAILED", finished_at=timezone.now() - timedelta(days=2))
    make_run(status="READY")

    body = staff_client.get("/api/tasks/stats/").json()
    assert body["by_status"] == {"READY": 1, "RUNNING": 0, "FAILED": 2, "SUCCESSFUL": 1}
    assert body["failed_last_24h"] == 1
    assert body["last_hour"]["successful"] == 1 and body["last_hour"]["failed"] == 1
    assert len(body["last_hour"]["per_minute"]) == 60


def test_retry_enqueues_a_new_linked_run(staff_client):
    failed = make_run(status="FAILED", args=[20, 22])

    response = staff_client.post(f"/api/tasks/runs/{failed.id}/retry/")

    assert response.status_code == 202
    new = TaskRun.objects.get(pk=response.json()["id"])
    assert new.retried_from_id == failed.id
    assert new.status == "SUCCESSFUL" and new.return_value == 42  # the immediate backend ran it inline


def test_retry_of_an_unfinished_run_is_a_conflict(staff_client):
    running = make_run(status="RUNNING")
    response = staff_client.post(f"/api/tasks/runs/{running.id}/retry/")
    assert response.status_code == 409
    assert "only finished" in response.json()["detail"]
    assert response.json()["error_code"] == "run_not_retryable"


@pytest.mark.parametrize(
    ("query", "field"), [("status=DONE", "status"), ("queue=bad%20queue", "queue"), ("task=" + "x" * 300, "task")]
)
def test_bad_filters_are_a_400_naming_the_field(staff_client, query, field):
    response = staff_client.get(f"/api/tasks/runs/?{query}")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/tasks/runs/"),
        ("get", "/api/tasks/stats/"),
        ("get", "/api/tasks/runs/x/"),
        ("post", "/api/tasks/runs/x/retry/"),
    ],
)
def test_non_staff_are_refused(member_client, client, method, url):
    assert getattr(member_client, method)(url).status_code == 403
    client.logout()
    assert getattr(client, method)(url).status_code in (401, 403)
