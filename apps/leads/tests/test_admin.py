"""The leads admin: the list with filters and search, the board by status, a lead's page (status moves as the
pipeline allows and is recorded, notes, history and touches), the bulk "assign to…" action, and the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from apps.leads import services
from apps.leads.models import ATTRIBUTION_FIELDS, CONTACT_FIELDS, Lead, LeadNote, Status, StatusChange
from apps.leads.tests.factories import lead_create, staff_create
from modules.unfold.testing import dashboard_chart, dashboard_figures, links

pytestmark = pytest.mark.django_db

LEADS = "/admin/leads/lead/"
BOARD = "/admin/leads/lead/board/"


@pytest.fixture
def root(db: Any) -> Any:
    return get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")


@pytest.fixture
def admin_client(client: Any, root: Any) -> Any:
    client.force_login(root)
    return client


def change_values(lead: Lead, **overrides: Any) -> dict[str, Any]:
    """The lead's page as submitted unchanged, with its inlines' management forms."""
    values: dict[str, Any] = {
        "status": lead.status,
        "assignee": lead.assignee_id or "",
        **{name: getattr(lead, name) for name in (*CONTACT_FIELDS, *ATTRIBUTION_FIELDS)},
    }
    for prefix, rows in (("history", lead.history.all()), ("touches", lead.touches.all())):
        ids = list(rows.values_list("pk", flat=True))
        values.update({f"{prefix}-TOTAL_FORMS": len(ids), f"{prefix}-INITIAL_FORMS": len(ids)})
        values.update({f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
        for index, pk in enumerate(ids):
            values.update({f"{prefix}-{index}-id": pk, f"{prefix}-{index}-lead": lead.pk})
    values.update({"notes-TOTAL_FORMS": 1, "notes-INITIAL_FORMS": 0, "notes-MIN_NUM_FORMS": 0})
    values.update({"notes-MAX_NUM_FORMS": 1000, "notes-0-body": ""})
    values["notes-0-lead"] = lead.pk
    values.update(overrides)
    return values


def test_every_leads_admin_page_answers_staff(admin_client, root):
    lead = lead_create(source="pricing")
    services.lead_note_add(lead=lead, author=root, body="Called")
    services.lead_set_status(lead=lead, status=Status.CONTACTED, by=root)
    for page in [
        LEADS,
        f"{LEADS}?status__exact=contacted",
        f"{LEADS}?source=pricing",
        f"{LEADS}?q=grace",
        f"{LEADS}?created_at__gte=2020-01-01T00:00:00%2B00:00",
        f"{LEADS}{lead.pk}/change/",
        f"{LEADS}add/",
        BOARD,
        f"{LEADS}export/",
        f"{LEADS}import/",
    ]:
        response = admin_client.get(page)
        assert response.status_code == 200, page
    assert BOARD in links(admin_client.get(LEADS).content.decode())


def test_the_changelist_searches_and_filters(admin_client):
    lead_create("grace@example.com", name="Grace Hopper", company="Navy")
    lead_create("ada@example.com", name="Ada Lovelace")
    page = admin_client.get(f"{LEADS}?q=navy").content.decode()
    assert "grace@example.com" in page and "ada@example.com" not in page


def test_the_board_groups_leads_by_status_in_bounded_queries(admin_client, root, django_assert_max_num_queries):
    for number in range(3):
        lead_create(f"new{number}@example.com")
    won = lead_create("won@example.com", name="Wanda Won")
    for status in (Status.CONTACTED, Status.QUALIFIED, Status.WON):
        services.lead_set_status(lead=won, status=status, by=root)
    admin_client.get(BOARD)
    with django_assert_max_num_queries(20):
        page = admin_client.get(BOARD).content.decode()
    assert 'data-status="new"' in page and 'data-status="lost"' in page
    assert 'data-count="3"' in page and 'data-count="1"' in page
    assert f'data-lead="{won.pk}"' in page and "Wanda Won" in page
    assert f"{LEADS}?status__exact=won" in links(page)


def test_the_board_needs_the_view_permission(client):
    staff = staff_create("clerk@example.com", leads_permissions=False)
    client.force_login(staff)
    assert client.get(BOARD).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_lead"))
    assert client.get(BOARD).status_code == 200


def test_a_status_change_on_the_lead_page_is_recorded_with_who(admin_client, root):
    lead = lead_create()
    response = admin_client.post(f"{LEADS}{lead.pk}/change/", change_values(lead, status="contacted"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    lead.refresh_from_db()
    assert lead.status == Status.CONTACTED
    change = StatusChange.objects.get()
    assert (change.from_status, change.to_status, change.changed_by) == ("new", "contacted", root)


def test_the_lead_page_offers_only_the_statuses_the_pipeline_allows(admin_client):
    lead = lead_create()
    response = admin_client.post(f"{LEADS}{lead.pk}/change/", change_values(lead, status="won"))
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["adminform"].form.errors["status"])
    lead.refresh_from_db()
    assert lead.status == Status.NEW and not StatusChange.objects.exists()


def test_a_note_added_on_the_lead_page_is_signed_by_its_author(admin_client, root):
    lead = lead_create()
    response = admin_client.post(f"{LEADS}{lead.pk}/change/", change_values(lead, **{"notes-0-body": "Left a message"}))
    assert response.status_code == 302
    note = LeadNote.objects.get()
    assert (note.body, note.author) == ("Left a message", root)


def test_a_lead_added_by_hand_with_a_known_address_in_another_case_is_refused(admin_client):
    lead_create("grace@example.com")
    response = admin_client.post(f"{LEADS}add/", {"email": "Grace@Example.com", "name": "Grace"})
    assert response.status_code == 200
    assert "already exists: open it instead" in str(response.context["adminform"].form.errors)
    assert Lead.objects.count() == 1


def test_bulk_assign_asks_whom_then_assigns_every_selected_lead(admin_client, smtp, django_capture_on_commit_callbacks):
    sales = staff_create("sales@example.com")
    customer = get_user_model().objects.create_user(email="customer@example.com")
    leads = [lead_create(f"buyer{number}@example.com") for number in range(3)]
    selected = [str(lead.pk) for lead in leads[:2]]

    page = admin_client.post(LEADS, {"action": "assign_to", "_selected_action": selected})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Assign 2 leads" in html and "customer@example.com" not in html

    refused = admin_client.post(
        LEADS, {"action": "assign_to", "_selected_action": selected, "apply": "1", "assignee": customer.pk}
    )
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(
            LEADS, {"action": "assign_to", "_selected_action": selected, "apply": "1", "assignee": sales.pk}
        )
    assert done.status_code == 302
    assert [lead.assignee_id for lead in Lead.objects.order_by("pk")] == [sales.pk, sales.pk, None]
    assert [mail.rcpt_tos for mail in smtp.messages] == [["sales@example.com"], ["sales@example.com"]]


def test_leads_are_offered_only_to_staff_who_may_work_on_them(admin_client):
    # A staff member without the leads permissions could not open the lead they were given.
    staff_create("support@example.com", leads_permissions=False)
    staff_create("sales@example.com")
    lead = lead_create()
    for page in (
        admin_client.post(LEADS, {"action": "assign_to", "_selected_action": [str(lead.pk)]}),
        admin_client.get(f"{LEADS}{lead.pk}/change/"),
    ):
        html = page.content.decode()
        assert "sales@example.com" in html and "support@example.com" not in html


def test_the_dashboard_shows_new_leads_this_week_and_conversion_by_source(admin_client, root):
    for number in range(3):
        lead_create(f"pricing{number}@example.com", source="pricing")
    won = Lead.objects.get(email="pricing0@example.com")
    for status in (Status.CONTACTED, Status.QUALIFIED, Status.WON):
        services.lead_set_status(lead=won, status=status, by=root)
    lead_create("webinar@example.com", source="webinar")
    lead_create("direct@example.com")

    page = admin_client.get("/admin/").content.decode()
    figures = dashboard_figures(page)
    assert figures["leads_new_this_week"] == "5"
    assert figures["leads_conversion"] == "20%"
    chart = dashboard_chart(page, "leads_conversion_by_source")
    assert chart["labels"] == ["pricing (33%)", "(none) (0%)", "webinar (0%)"]
    assert [dataset["data"] for dataset in chart["datasets"]] == [[3, 1, 1], [1, 0, 0]]
    for link in links(page):
        if link.startswith(LEADS):
            assert admin_client.get(link).status_code == 200, link


def test_the_dashboard_cards_need_the_view_permission(client):
    staff = staff_create("clerk@example.com", leads_permissions=False)
    client.force_login(staff)
    assert "leads_new_this_week" not in dashboard_figures(client.get("/admin/").content.decode())
