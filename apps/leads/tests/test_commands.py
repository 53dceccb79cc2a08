"""manage.py leads_stats: counts by status and source, and conversion, as a table or JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.leads import services
from apps.leads.models import Lead, Status
from apps.leads.tests.factories import lead_create, staff_create

pytestmark = pytest.mark.django_db


def stats(*args: str) -> str:
    out = StringIO()
    call_command("leads_stats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def pipeline() -> None:
    staff = staff_create()
    won = lead_create("a@example.com", source="pricing")
    for status in (Status.CONTACTED, Status.QUALIFIED, Status.WON):
        services.lead_set_status(lead=won, status=status, by=staff)
    lost = lead_create("b@example.com", source="pricing")
    services.lead_set_status(lead=lost, status=Status.LOST, by=staff)
    old = lead_create("c@example.com", source="webinar")
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=100))
    lead_create("d@example.com")


def test_the_figures_as_json(pipeline):
    report = json.loads(stats("--json"))
    assert report["total"] == 4 and report["conversion"] == 0.25
    assert report["by_status"] == {"new": 2, "contacted": 0, "qualified": 0, "won": 1, "lost": 1}
    assert report["by_source"][0] == {"source": "pricing", "total": 2, "won": 1, "lost": 1, "conversion": 0.5}
    assert {row["source"] for row in report["by_source"]} == {"pricing", "webinar", "(none)"}


def test_the_figures_of_recent_leads_as_a_table(pipeline):
    text = stats("--days", "30")
    assert "Leads (created in the last 30 days): 3; conversion (won of all): 33.3%" in text
    assert "webinar" not in text and "pricing" in text


def test_no_leads_yet_is_not_an_error():
    assert json.loads(stats("--json"))["conversion"] is None
    assert "conversion (won of all): —" in stats()


def test_a_bad_number_of_days_is_refused():
    with pytest.raises(CommandError, match="--days must be from 1 to 36500"):
        stats("--days", "0")


def test_a_source_a_visitor_wrote_is_printed_as_text_not_read_as_markup():
    # The source comes from anyone's form: "[/bold]" is rich's markup, and an escape sequence moves the terminal.
    lead_create("a@example.com", source="[/bold]")
    lead_create("b@example.com", source="\x1b[31mred")
    output = stats()
    assert "[/bold]" in output
    assert "\x1b[31m" not in output and "red" in output
