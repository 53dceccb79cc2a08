"""The same submission twice makes one lead and one touch; a new one for a known address updates its lead; and
submissions arriving together never end in a database error."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.leads import services
from apps.leads.models import Lead, LeadTouch, Status
from apps.leads.tests.factories import lead_create, staff_create, submit


@pytest.mark.django_db
def test_a_double_submission_makes_one_lead_and_one_touch(api):
    first = submit(api)
    second = submit(api)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert Lead.objects.count() == 1
    assert LeadTouch.objects.count() == 1


@pytest.mark.django_db
def test_the_same_words_differently_spaced_and_cased_are_the_same_submission(api):
    submit(api)
    submit(api, name="  ada   LOVELACE ", email="Ada@Example.com", message="we would  like a demo.")
    assert LeadTouch.objects.count() == 1


@pytest.mark.django_db
def test_after_the_dedup_window_the_same_submission_is_a_new_touch(api):
    submit(api)
    LeadTouch.objects.update(created_at=LeadTouch.objects.get().created_at - timedelta(minutes=11))
    submit(api)
    assert Lead.objects.count() == 1
    assert LeadTouch.objects.count() == 2


@pytest.mark.django_db
def test_a_new_submission_for_a_known_address_fills_its_lead_and_keeps_its_status(api, staff):
    lead = lead_create("ada@example.com", name="", company="", source="webinar")
    services.lead_set_status(lead=lead, status=Status.CONTACTED, by=staff)
    known = submit(api)
    unknown = submit(api, email="new.person@example.com")
    assert set(known.json()) == set(unknown.json())
    assert known.json()["detail"] == unknown.json()["detail"]
    lead.refresh_from_db()
    assert lead.status == Status.CONTACTED
    assert (lead.name, lead.company) == ("Ada Lovelace", "Analytical Engines")  # filled
    assert lead.source == "webinar"  # kept: the first touch's attribution
    assert lead.touches.count() == 2
    assert str(lead.reference) == known.json()["reference"]


@pytest.mark.django_db
def test_a_dedup_window_of_zero_records_every_submission(api, settings):
    settings.LEADS = {**settings.LEADS, "DEDUP_WINDOW": 0}
    submit(api)
    submit(api)
    assert LeadTouch.objects.count() == 2 and Lead.objects.count() == 1


def submit_together(count: int, data: list[dict[str, Any]]) -> list[Any]:
    """`count` submissions sent at the same moment from threads, each with its own database connection."""
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def send(index: int) -> None:
        try:
            barrier.wait()
            answers[index] = submit(APIClient(), ip=f"198.51.100.{index + 1}", **data[index])
        except Exception as error:  # reported by the assertions below
            answers[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.django_db(transaction=True)
def test_identical_submissions_arriving_together_make_one_lead_and_one_touch():
    answers = submit_together(8, [{}] * 8)
    assert [getattr(answer, "status_code", answer) for answer in answers] == [202] * 8
    assert len({answer.json()["reference"] for answer in answers}) == 1
    assert Lead.objects.count() == 1
    assert LeadTouch.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_different_submissions_for_one_new_address_arriving_together_make_one_lead():
    answers = submit_together(6, [{"message": f"Question {index}", "email": "SAME@example.com"} for index in range(6)])
    assert [getattr(answer, "status_code", answer) for answer in answers] == [202] * 6
    assert Lead.objects.count() == 1
    assert LeadTouch.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_round_robin_takes_turns_when_submissions_arrive_together(settings):
    settings.LEADS = {**settings.LEADS, "ROUND_ROBIN": True}
    staff = [staff_create(f"sales{index}@example.com") for index in range(3)]
    answers = submit_together(6, [{"email": f"buyer{index}@example.com"} for index in range(6)])
    assert [getattr(answer, "status_code", answer) for answer in answers] == [202] * 6
    counts = {member.pk: Lead.objects.filter(assignee=member).count() for member in staff}
    assert sorted(counts.values()) == [2, 2, 2]


@pytest.mark.django_db
def test_a_lead_added_another_way_at_the_same_moment_is_updated_not_an_error(api):
    # The admin and imports take no address lock: their row may appear between the lookup and the insert. Here it
    # is already there in another case, which only the unique index on lower(email) sees.
    Lead.objects.bulk_create([Lead(email="Ada@Example.com", name="")])
    assert submit(api).status_code == 202
    lead = Lead.objects.get()
    assert lead.name == "Ada Lovelace" and lead.touches.count() == 1
