"""Leads to CSV and XLSX and back (apps.leads.resources): contact fields and attribution import, the pipeline is
exported for reading only, a bad row saves nothing, and formulas are escaped on export."""

from __future__ import annotations

import io

import openpyxl
import pytest
import tablib
from django.contrib.auth import get_user_model
from import_export.formats.base_formats import CSV
from import_export.results import RowResult

from apps.leads import services
from apps.leads.models import Lead, Status
from apps.leads.resources import LeadResource
from apps.leads.tests.factories import lead_create, staff_create

pytestmark = pytest.mark.django_db


def csv(text: str) -> tablib.Dataset:
    return tablib.Dataset().load(text, format="csv")


def test_an_exported_file_imports_back_changing_nothing():
    staff = staff_create()
    for number in range(5):
        lead = lead_create(f"buyer{number}@example.com", source="pricing", company=f"Company {number}")
        services.lead_assign(lead=lead, assignee=staff, by=staff)
    before = list(Lead.objects.order_by("pk").values())
    exported = LeadResource().export()
    assert exported.headers[:3] == ["id", "name", "email"]
    assert {"status", "assignee", "created_at", "consent_version"} <= set(exported.headers)
    result = LeadResource().import_data(exported)
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals[RowResult.IMPORT_TYPE_SKIP] == 5
    assert list(Lead.objects.order_by("pk").values()) == before


def test_an_import_adds_new_leads_and_updates_known_addresses_in_any_case():
    known = lead_create("grace@example.com", company="")
    services.lead_set_status(lead=known, status=Status.CONTACTED, by=staff_create())
    result = LeadResource().import_data(
        csv(
            "name,email,company,source,status\n"
            "Grace Hopper,GRACE@example.com,US Navy,fair,won\n"
            "Alan Turing,alan@example.com,Bletchley,fair,won\n"
        )
    )
    assert not result.has_errors() and not result.has_validation_errors(), result.invalid_rows
    known.refresh_from_db()
    assert (known.company, known.status) == ("US Navy", Status.CONTACTED)  # the pipeline is not imported
    alan = Lead.objects.get(email="alan@example.com")
    assert (alan.name, alan.source, alan.status, alan.assignee) == ("Alan Turing", "fair", Status.NEW, None)


def test_a_file_with_a_bad_address_saves_nothing_and_names_the_row():
    result = LeadResource().import_data(
        csv("name,email\nGood Person,good@example.com\nBad Person,not-an-address\nNobody,\n")
    )
    assert result.has_errors()
    errors = {error.number: str(error.error) for row in result.rows for error in row.errors}
    assert errors == {2: "not-an-address is not a valid email address", 3: "a lead needs an email address"}
    assert not Lead.objects.exists()


def test_a_formula_written_by_a_visitor_is_exported_as_text_and_imports_back():
    lead_create("evil@example.com", name='=HYPERLINK("http://evil.example.com")', company="@SUM(A1)", phone="+44 1")
    before = list(Lead.objects.values())
    text = CSV().export_data(LeadResource().export())
    row = csv(text).dict[0]
    assert row["name"] == '\'=HYPERLINK("http://evil.example.com")'
    assert (row["company"], row["phone"]) == ("'@SUM(A1)", "'+44 1")
    assert row["assignee"] == ""  # no assignee: an empty cell, not None
    result = LeadResource().import_data(csv(text))
    assert result.totals[RowResult.IMPORT_TYPE_SKIP] == 1
    assert list(Lead.objects.values()) == before


def test_the_admin_exports_xlsx_and_imports_csv(client):
    root = get_user_model().objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(root)
    lead_create("grace@example.com", company="US Navy")
    page = client.get("/admin/leads/lead/export/")
    formats = {label: value for value, label in page.context["form"].fields["format"].choices}
    selected = {f"leadresource_{field}": "on" for field in LeadResource.Meta.fields}
    response = client.post("/admin/leads/lead/export/", {"format": formats["xlsx"], "resource": "0", **selected})
    assert response.status_code == 200, response.content[:500]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, first = [[cell.value for cell in row] for row in sheet.iter_rows()][:2]
    exported = dict(zip(header, first, strict=True))
    assert (exported["email"], exported["company"], exported["status"]) == ("grace@example.com", "US Navy", "new")

    import_page = client.get("/admin/leads/lead/import/")
    import_formats = {label: value for value, label in import_page.context["form"].fields["format"].choices}
    upload = io.BytesIO(b"name,email,company\nAlan Turing,alan@example.com,Bletchley\n")
    upload.name = "leads.csv"
    preview = client.post(
        "/admin/leads/lead/import/",
        {"format": import_formats["csv"], "import_file": upload, "resource": "0"},
    )
    assert preview.status_code == 200
    confirm = preview.context["confirm_form"]
    done = client.post("/admin/leads/lead/process_import/", {**confirm.initial, "resource": "0"})
    assert done.status_code == 302
    assert Lead.objects.get(email="alan@example.com").company == "Bletchley"


@pytest.mark.parametrize("page", ["/admin/leads/lead/import/", "/admin/leads/lead/export/"])
def test_a_staff_member_without_the_leads_permissions_may_neither_import_nor_export(client, page):
    client.force_login(staff_create("other.team@example.com", leads_permissions=False))
    assert client.get(page).status_code == 403
