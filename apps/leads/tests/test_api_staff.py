"""The staff pipeline API: list with filters and search, read a lead whole, change its status, assign it, add a
note; and who may (staff only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.leads import services
from apps.leads.models import Lead, LeadNote, Status, StatusChange
from apps.leads.tests.factories import LEADS, client_for, lead_create, lead_url, staff_create, user_create

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "leads"),
    ("get", "lead"),
    ("post", "lead-status"),
    ("post", "lead-assign"),
    ("post", "lead-notes"),
]


def path_of(name: str, lead: Lead) -> str:
    return reverse(f"leads:{name}") if name == "leads" else lead_url(lead, name)


# Who may.


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_every_pipeline_endpoint_needs_a_signed_in_user(method, name):
    lead = lead_create()
    response = getattr(APIClient(), method)(path_of(name, lead), {}, format="json")
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_a_user_who_is_not_staff_is_refused_everywhere(ada_api, method, name):
    lead = lead_create()
    payload = {"status": "contacted", "assignee": lead.pk, "body": "mine now"} if method == "post" else {}
    response = getattr(ada_api, method)(path_of(name, lead), payload, format="json")
    assert response.status_code == 403
    assert "Only staff members" in response.json()["detail"]
    lead.refresh_from_db()
    assert lead.status == Status.NEW and not lead.notes.exists()


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_staff_without_the_leads_permissions_are_refused_as_the_admin_refuses_them(method, name):
    # A staff member of another team (support, the blog) sees no leads in the admin: nor through the API.
    outsider = client_for(staff_create("support@example.com", leads_permissions=False))
    lead = lead_create()
    payload = {"status": "contacted", "assignee": None, "body": "mine now"} if method == "post" else {}
    response = getattr(outsider, method)(path_of(name, lead), payload, format="json")
    assert response.status_code == 403
    assert "leads permissions" in response.json()["detail"]
    lead.refresh_from_db()
    assert lead.status == Status.NEW and not lead.notes.exists()


def test_staff_who_may_only_view_leads_read_but_do_not_change_them():
    viewer = staff_create("viewer@example.com", leads_permissions=False)
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="leads", codename="view_lead"))
    lead = lead_create()
    api = client_for(viewer)
    assert api.get(LEADS).status_code == 200
    assert api.get(lead_url(lead)).status_code == 200
    response = api.post(lead_url(lead, "lead-notes"), {"body": "mine now"}, format="json")
    assert response.status_code == 403 and not lead.notes.exists()


def test_an_unknown_lead_is_a_404(staff_api):
    for method, name in ENDPOINTS[1:]:
        response = getattr(staff_api, method)(reverse(f"leads:{name}", args=[999_999]), {}, format="json")
        assert response.status_code == 404, name
        assert response.json()["detail"] == "No lead with this id."


# The list.


def test_staff_list_every_lead_newest_first(staff_api):
    older = lead_create("old@example.com")
    newer = lead_create("new@example.com")
    body = staff_api.get(LEADS).json()
    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [newer.pk, older.pk]
    assert set(body["results"][0]) >= {"id", "reference", "email", "status", "assignee", "source", "created_at"}


def test_the_list_filters_and_searches(staff, staff_api, other_staff):
    won = lead_create("won@example.com", source="pricing", company="Acme Rockets", name="Wanda Won")
    for status in (Status.CONTACTED, Status.QUALIFIED, Status.WON):
        services.lead_set_status(lead=won, status=status, by=staff)
    mine = lead_create("mine@example.com", source="webinar", name="Grace Hopper")
    services.lead_assign(lead=mine, assignee=staff, by=staff)
    old = lead_create("old@example.com", source="pricing", name="Olga Old")
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    def ids(query: str) -> set[int]:
        response = staff_api.get(f"{LEADS}?{query}")
        assert response.status_code == 200, response.json()
        return {item["id"] for item in response.json()["results"]}

    assert ids("status=won") == {won.pk}
    assert ids(f"assignee={staff.pk}") == {mine.pk}
    assert ids(f"assignee={other_staff.pk}") == set()
    assert ids("assignee=none") == {won.pk, old.pk}
    assert ids("source=pricing") == {won.pk, old.pk}
    today = timezone.localdate()
    assert ids(f"created_from={today - timedelta(days=1)}") == {won.pk, mine.pk}
    assert ids(f"created_to={today - timedelta(days=30)}") == {old.pk}
    assert ids("q=acme") == {won.pk}
    assert ids("q=GRACE") == {mine.pk}
    assert ids("q=old@") == {old.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed", "status"),
        ("assignee=someone", "assignee"),
        ("created_from=yesterday", "created_from"),
        ("created_from=2025-02-01&created_to=2025-01-01", "created_to"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(staff_api, query, field):
    response = staff_api.get(f"{LEADS}?{query}")
    assert response.status_code == 400
    assert field in response.json(), response.json()


@pytest.mark.parametrize("query", ["created_to=9999-12-31", "created_from=0001-01-01", "created_from=9999-12-31"])
def test_days_at_the_ends_of_the_calendar_filter_without_an_error(staff_api, query):
    lead_create()
    response = staff_api.get(f"{LEADS}?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == (0 if query == "created_from=9999-12-31" else 1)


def test_the_list_runs_the_same_queries_whatever_the_page_size(staff, staff_api, django_assert_num_queries):
    for number in range(3):
        lead = lead_create(f"first{number}@example.com")
        services.lead_assign(lead=lead, assignee=staff, by=staff)
    staff_api.get(LEADS)  # the first request of the day records the user's activity (one more query)
    with django_assert_num_queries(5):  # the user (JWT), their permissions (own, groups'), the count, the page
        assert len(staff_api.get(LEADS).json()["results"]) == 3
    for number in range(20):
        lead = lead_create(f"more{number}@example.com")
        services.lead_assign(lead=lead, assignee=staff, by=staff)
    with django_assert_num_queries(5):
        assert len(staff_api.get(f"{LEADS}?page_size=23").json()["results"]) == 23


# Reading one.


def test_a_lead_is_read_with_its_touches_notes_and_history(staff, staff_api, django_assert_num_queries):
    lead = lead_create("ada@example.com", message="First")
    lead_create("ada@example.com", message="Second")
    services.lead_set_status(lead=lead, status=Status.CONTACTED, by=staff, note="Called back")
    services.lead_note_add(lead=lead, author=staff, body="Wants a demo")
    staff_api.get(LEADS)  # the first request of the day records the user's activity (one more query)
    with django_assert_num_queries(
        7
    ):  # the user and their permissions, the lead with its assignee, touches, notes, history
        body = staff_api.get(lead_url(lead)).json()
    assert [touch["message"] for touch in body["touches"]] == ["Second", "First"]
    assert [note["body"] for note in body["notes"]] == ["Wants a demo", "Called back"]
    assert body["notes"][0]["author"]["email"] == staff.email
    [change] = body["history"]
    assert (change["from_status"], change["to_status"], change["changed_by"]["id"]) == ("new", "contacted", staff.pk)
    assert body["next_statuses"] == ["qualified", "lost"]
    assert body["consent_version"] == "1" and body["consent_ip"] == "198.51.100.7"


# The status.


def test_the_pipeline_moves_forward_and_records_who_and_when(staff, staff_api):
    lead = lead_create()
    for status in ("contacted", "qualified", "won"):
        response = staff_api.post(lead_url(lead, "lead-status"), {"status": status}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == status
    history = list(StatusChange.objects.order_by("changed_at", "id").values_list("from_status", "to_status"))
    assert history == [("new", "contacted"), ("contacted", "qualified"), ("qualified", "won")]
    assert set(StatusChange.objects.values_list("changed_by", flat=True)) == {staff.pk}


def test_a_status_change_may_carry_a_note(staff_api):
    lead = lead_create()
    staff_api.post(lead_url(lead, "lead-status"), {"status": "lost", "note": "Chose a competitor"}, format="json")
    assert LeadNote.objects.get().body == "Chose a competitor"


@pytest.mark.parametrize(
    ("path", "wanted", "words"),
    [
        ((), "won", "A new lead cannot become won; it can become contacted or lost."),
        ((), "new", "The lead is already new."),
        (("contacted", "qualified", "won"), "lost", "A won lead is closed"),
        (("lost",), "qualified", "A lost lead cannot become qualified; it can become contacted."),
    ],
)
def test_a_transition_the_pipeline_does_not_allow_is_a_409_with_a_message(staff, staff_api, path, wanted, words):
    lead = lead_create()
    for status in path:
        services.lead_set_status(lead=lead, status=status, by=staff)
    response = staff_api.post(lead_url(lead, "lead-status"), {"status": wanted}, format="json")
    assert response.status_code == 409
    assert response.json()["error_code"] == "transition_not_allowed"
    assert words in response.json()["status"][0]
    assert StatusChange.objects.count() == len(path)


def test_a_lost_lead_can_be_reopened(staff, staff_api):
    lead = lead_create()
    services.lead_set_status(lead=lead, status=Status.LOST, by=staff)
    response = staff_api.post(lead_url(lead, "lead-status"), {"status": "contacted"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "contacted"


@pytest.mark.parametrize("payload", [{}, {"status": "archived"}, {"status": "won", "note": "x" * 5001}])
def test_a_bad_status_request_is_a_400(staff_api, payload):
    lead = lead_create()
    response = staff_api.post(lead_url(lead, "lead-status"), payload, format="json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid"


# Assignment.


def test_a_lead_is_assigned_to_a_staff_member_and_unassigned(staff_api, other_staff):
    lead = lead_create()
    response = staff_api.post(lead_url(lead, "lead-assign"), {"assignee": other_staff.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["assignee"]["id"] == other_staff.pk
    response = staff_api.post(lead_url(lead, "lead-assign"), {"assignee": None}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] is None


@pytest.mark.parametrize(
    ("whom", "words"),
    [
        ("user", "not an active staff member"),
        ("inactive", "not an active staff member"),
        ("outsider", "leads permissions"),
        ("nobody", "No user has the id"),
        ("text", "A valid integer is required"),
    ],
)
def test_a_lead_is_never_assigned_to_someone_who_is_not_active_staff(staff_api, whom, words):
    lead = lead_create()
    assignee = {
        "user": lambda: user_create("customer@example.com").pk,
        "inactive": lambda: staff_create("gone@example.com", is_active=False).pk,
        "outsider": lambda: staff_create("support@example.com", leads_permissions=False).pk,
        "nobody": lambda: 999_999,
        "text": lambda: "Sam",
    }[whom]()
    response = staff_api.post(lead_url(lead, "lead-assign"), {"assignee": assignee}, format="json")
    assert response.status_code == 400
    assert words in response.json()["assignee"][0]
    lead.refresh_from_db()
    assert lead.assignee is None


# Notes.


def test_staff_add_notes_signed_with_their_name(staff, staff_api):
    lead = lead_create()
    response = staff_api.post(lead_url(lead, "lead-notes"), {"body": "  Sent the price list.  "}, format="json")
    assert response.status_code == 201
    assert response.json()["body"] == "Sent the price list."
    assert response.json()["author"]["id"] == staff.pk
    assert LeadNote.objects.get().author == staff


@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 5001}])
def test_an_empty_or_too_long_note_is_a_400(staff_api, payload):
    lead = lead_create()
    response = staff_api.post(lead_url(lead, "lead-notes"), payload, format="json")
    assert response.status_code == 400
    assert "body" in response.json()
    assert not LeadNote.objects.exists()
