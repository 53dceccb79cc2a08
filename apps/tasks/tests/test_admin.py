from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tasks.models import TaskRun
from apps.tasks.tests.factories import make_run
from modules.unfold.testing import dashboard_chart, dashboard_chart_options, dashboard_figures, links

pytestmark = pytest.mark.django_db


def test_the_dashboard_shows_counts_throughput_and_failures(admin_user_client):
    make_run()
    failed = make_run(status="FAILED", traceback="Traceback (most recent call last):\nValueError: dashboard")

    response = admin_user_client.get("/admin/tasks/taskrun/dashboard/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="FAILED">1<' in html and 'data-status="SUCCESSFUL">1<' in html
    assert "1 successful, 1 failed" in html
    assert f'data-run="{failed.id}"' in html and "ValueError: dashboard" in html
    assert "<title> Tasks dashboard |" in html  # as the sidebar names it
    # The minute of both runs: the failed one stacked in red on the successful one, which stays visible.
    minute = html.split(f'data-minute="{timezone.localtime(failed.finished_at):%H:%M}"')[1].split(
        "</div>\n            </div>"
    )[0]
    assert 'class="bg-red-600" style="flex: 1 1 0"' in minute and 'class="bg-primary-600" style="flex: 1 1 0"' in minute


def test_the_breadcrumbs_name_the_app_as_the_sidebar_does(admin_user_client):
    html = admin_user_client.get("/admin/tasks/taskrun/").content.decode()
    assert "Background tasks" not in html
    assert re.search(r'<a href="/admin/tasks/"[^>]*>\s*Tasks\s*</a', html)


def test_the_changelist_filters_by_task_queue_and_status(admin_user_client):
    make_run(queue="mail")
    make_run(status="FAILED")
    url = "/admin/tasks/taskrun/"
    assert admin_user_client.get(url).status_code == 200
    for query in ("status__exact=FAILED", "queue__exact=mail", "task_path__exact=apps.tasks.tests.jobs.add"):
        response = admin_user_client.get(f"{url}?{query}")
        assert response.status_code == 200
        assert response.context["cl"].result_count == (2 if query.startswith("task_path") else 1)


def test_the_retry_action_enqueues_failed_runs_again(admin_user_client):
    failed = make_run(status="FAILED", args=[1, 1])
    response = admin_user_client.post(
        "/admin/tasks/taskrun/", {"action": "retry_runs", "_selected_action": [failed.id]}, follow=True
    )
    assert response.status_code == 200
    retried = TaskRun.objects.get(retried_from=failed)
    assert retried.return_value == 2


def test_the_dashboard_needs_staff(client):
    response = client.get("/admin/tasks/taskrun/dashboard/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_admin_index_counts_queued_running_and_recently_failed_runs(admin_user_client):
    for _ in range(2):
        make_run(status="READY")
    make_run(status="RUNNING")
    make_run(status="SUCCESSFUL")
    make_run(status="FAILED")
    make_run(status="FAILED", finished_at=timezone.now() - timedelta(hours=30))

    page = admin_user_client.get("/admin/").content.decode()

    figures = dashboard_figures(page)
    assert (figures["tasks_queued"], figures["tasks_running"], figures["tasks_failed_24h"]) == ("2", "1", "1")
    chart = dashboard_chart(page, "tasks_throughput")
    successful, failed = chart["datasets"]
    assert len(chart["labels"]) == 60
    assert (successful["label"], failed["label"]) == ("Successful", "Failed")
    assert (sum(successful["data"]), sum(failed["data"])) == (1, 1)
    # Stacked, so a minute with a failure still shows its successes.
    options = dashboard_chart_options(page, "tasks_throughput")
    assert options["scales"]["y"]["stacked"] and options["scales"]["index"]["stacked"]
    assert "/admin/tasks/taskrun/dashboard/" in links(page)
