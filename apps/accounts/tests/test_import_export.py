"""Users to a file and back (apps.accounts.resources): an exported file imports back unchanged, and every problem of
a file is a message naming its row, with nothing saved."""

from __future__ import annotations

from typing import Any

import pytest
import tablib
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from import_export.formats.base_formats import CSV
from import_export.results import RowResult

from apps.accounts.models import RegistrationSource, User
from apps.accounts.resources import UserResource, refusal

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/accounts/user/import/"


@pytest.fixture
def hundred_users() -> list[User]:
    """100 users, most without a phone, a few of them staff, inactive or without an email address."""
    users = []
    for number in range(100):
        users.append(
            User.objects.create_user(
                email=None if number % 50 == 0 else f"user{number}@example.com",
                phone=f"+1555000{number:04d}" if number % 10 == 0 else None,
                first_name=f"First{number}",
                last_name="Lovelace" if number % 2 else "",
                is_staff=number % 33 == 0,
                is_active=number % 7 != 0,
                registration_source=RegistrationSource.EMAIL,
            )
        )
    return users


def snapshot() -> list[Any]:
    return list(User.objects.order_by("pk").values())


def csv_file(text: str) -> tablib.Dataset:
    return tablib.Dataset().load(text, format="csv")


def import_csv(text: str, *, dry_run: bool = False) -> Any:
    return UserResource().import_data(csv_file(text), dry_run=dry_run)


def row_errors(result: Any) -> dict[int, list[str]]:
    return {row.number: [m for messages in row.error_dict.values() for m in messages] for row in result.invalid_rows}


def test_an_exported_file_imports_back_as_all_skipped_and_changes_nothing(hundred_users):
    before = snapshot()
    exported = UserResource().export().csv
    assert exported.splitlines()[0] == (
        "id,email,phone,first_name,last_name,is_active,is_staff,registration_source,date_joined,last_login,"
        "last_activity"
    )
    for dry_run in (True, False):
        result = import_csv(exported, dry_run=dry_run)
        assert not result.has_errors() and not result.has_validation_errors()
        assert result.totals[RowResult.IMPORT_TYPE_SKIP] == 100
        assert [row.import_type for row in result.rows] == [RowResult.IMPORT_TYPE_SKIP] * 100
    assert snapshot() == before


def test_a_changed_row_is_the_only_update(hundred_users):
    dataset = UserResource().export()
    row = list(dataset[5])
    row[dataset.headers.index("first_name")] = "Grace"
    del dataset[5]
    dataset.insert(5, row)
    result = UserResource().import_data(dataset)
    assert result.totals[RowResult.IMPORT_TYPE_UPDATE] == 1 and result.totals[RowResult.IMPORT_TYPE_SKIP] == 99
    assert User.objects.get(pk=row[0]).first_name == "Grace"


def test_blank_cells_are_no_phone_and_no_email_not_empty_strings():
    result = import_csv("email,phone,first_name\nann@example.com,,Ann\nbob@example.com,,Bob\n,+44 20 7946 0958,Cy\n")
    assert not result.has_errors() and not result.has_validation_errors(), row_errors(result)
    assert result.totals[RowResult.IMPORT_TYPE_NEW] == 3
    assert User.objects.get(email="ann@example.com").phone is None
    assert User.objects.get(email="bob@example.com").phone is None
    cy = User.objects.get(phone="+442079460958")  # E.164, as sign-in keys it
    assert cy.email is None
    assert cy.registration_source == RegistrationSource.IMPORT and not cy.has_usable_password()
    assert cy.is_active and not cy.is_staff


def test_emails_are_normalised_and_find_the_user_without_an_id():
    ada = User.objects.create_user(email="ada@example.com", first_name="Ada")
    result = import_csv("email,first_name\n  ADA@Example.COM ,Augusta\nnew@BÜCHER.example,New\n")
    assert [row.import_type for row in result.rows] == [RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_NEW]
    ada.refresh_from_db()
    assert ada.first_name == "Augusta"
    assert User.objects.filter(email="new@xn--bcher-kva.example").exists()


def test_a_phone_twice_in_the_file_is_an_error_of_the_later_row_and_nothing_is_saved():
    before = snapshot()
    result = import_csv(
        "email,phone\nann@example.com,\nbob@example.com,+15551230001\ncy@example.com,+1 (555) 123-0001\n"
    )
    assert row_errors(result) == {
        3: ["row 3 (line 4): phone +15551230001 is also in row 2 (line 3) of this file; it belongs to one user"]
    }
    assert snapshot() == before


def test_a_phone_or_email_of_another_user_is_an_error_of_the_row_and_nothing_is_saved():
    User.objects.create_user(email="ada@example.com", phone="+15551230001")
    before = snapshot()
    result = import_csv("email,phone\nann@example.com,\nbob@example.com,+15551230001\n")
    assert row_errors(result) == {2: ["row 2 (line 3): phone +15551230001 is already used by another user"]}
    assert snapshot() == before
    other = User.objects.create_user(email="grace@example.com")
    result = import_csv(f"id,email\n{other.pk},ada@example.com\n")
    assert row_errors(result) == {1: ["row 1 (line 2): email ada@example.com is already used by another user"]}


def test_cells_that_do_not_read_are_errors_of_their_row():
    result = import_csv(
        "id,email,phone,is_active\n"
        ",not an email,,1\n"
        ",ok@example.com,555-0100,1\n"
        ",fine@example.com,,maybe\n"
        "12345,x@example.com,,1\n"
        ",,,0\n"
    )
    assert row_errors(result) == {
        1: ["row 1 (line 2): email not an email is not a valid email address: write it as name@example.com"],
        2: ["row 2 (line 3): phone 555-0100 is not a phone number in international form, e.g. +15551234567"],
        3: ["row 3 (line 4): is_active maybe is neither 1 nor 0 (true or false, yes or no)"],
        4: ["row 4 (line 5): no user has the id 12345; leave id empty to add a user"],
        5: ["row 5 (line 6): a user needs an email address or a phone number"],
    }
    assert not User.objects.exists()


def test_staff_access_is_never_changed_by_a_file(hundred_users):
    member = User.objects.create_user(email="member@example.com")
    result = import_csv(f"id,email,is_staff\n{member.pk},member@example.com,1\n,new@example.com,true\n")
    assert row_errors(result) == {
        number: [
            f"row {number} (line {number + 1}): is_staff cannot be changed by an import; grant or remove staff "
            "access on the user's page, and leave the cell as exported (or empty)"
        ]
        for number in (1, 2)
    }
    member.refresh_from_db()
    assert not member.is_staff and not User.objects.filter(email="new@example.com").exists()


def test_recorded_columns_must_be_empty_or_as_exported():
    ada = User.objects.create_user(email="ada@example.com", registration_source=RegistrationSource.EMAIL)
    exported = UserResource().export()
    header, row = exported.headers, dict(zip(exported.headers, exported[0], strict=True))
    assert row["registration_source"] == "email" and row["date_joined"]
    as_exported = ",".join(header) + "\n" + ",".join(str(row[column]) for column in header) + "\n"
    result = import_csv(as_exported)
    assert not result.has_validation_errors() and result.totals[RowResult.IMPORT_TYPE_SKIP] == 1
    recorded = "is recorded by the application and cannot be set by an import; leave the cell as exported (or empty)"
    result = import_csv(
        "id,email,registration_source,date_joined,last_login\n"
        f"{ada.pk},ada@example.com,telegram,2001-01-01 00:00:00,\n"
        ",new@example.com,bogus,notadate,2001-01-01 00:00:00\n"
        ",other@example.com,,,\n"
    )
    assert row_errors(result) == {
        1: [f"row 1 (line 2): registration_source {recorded}", f"row 1 (line 2): date_joined {recorded}"],
        2: [
            f"row 2 (line 3): registration_source {recorded}",
            f"row 2 (line 3): date_joined {recorded}",
            f"row 2 (line 3): last_login {recorded}",
        ],
    }
    result = import_csv(f"id,email,last_activity\n{ada.pk},ada@example.com,notadate\n")
    assert row_errors(result) == {
        1: ["row 1 (line 2): last_activity notadate is not a date and time like 2025-01-31 14:05:00"]
    }
    assert list(User.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_the_preview_says_new_rather_than_an_id_a_new_user_will_not_have():
    result = import_csv("id,email\n,ann@example.com\n", dry_run=True)
    [row] = result.rows
    assert row.import_type == RowResult.IMPORT_TYPE_NEW
    assert result.diff_headers[0] == "id" and "new" in row.diff[0]


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("password", "passwords are never imported"),
        ("is_superuser", "superuser status is granted on the user's page"),
        ("Phone", "the file has columns this import does not read: 'Phone'"),
    ],
)
def test_a_column_that_is_not_imported_refuses_the_file(column, reason):
    result = import_csv(f"email,{column}\nann@example.com,x\n")
    assert result.has_errors()
    [error] = result.base_errors
    assert str(error.error).startswith("Nothing was imported.") and reason in str(error.error)
    assert not User.objects.exists()


def test_the_database_refusing_a_row_is_said_as_a_message_of_the_row():
    user = User(email="ada@example.com", phone="+15551230001")
    assert refusal("accounts_user_phone_key", user, 7) == {
        "phone": "row 7 (line 8): phone +15551230001 is already used by another user"
    }
    assert refusal("accounts_user_email_ci_unique", user, 7) == {
        "email": "row 7 (line 8): email ada@example.com is already used by another user"
    }
    assert refusal("accounts_user_has_email_or_phone", user, 7) == (
        "row 7 (line 8): a user needs an email address or a phone number"
    )


def user_admin() -> Any:
    return admin.site._registry[User]


def upload(client: Any, text: str) -> Any:
    formats = user_admin().get_import_formats()
    return client.post(
        IMPORT_URL,
        {
            "import_file": SimpleUploadedFile("users.csv", text.encode(), content_type="text/csv"),
            "format": str(formats.index(CSV)),
        },
    )


def test_the_admin_import_page_lists_only_the_columns_an_import_writes(admin_client):
    page = admin_client.get(IMPORT_URL).content.decode()
    assert "This importer will import the following fields" in page
    fields = page.split("This importer will import the following fields")[1].split("</code>")[0]
    assert fields.split("<code>")[1].split() == ["email,", "phone,", "first_name,", "last_name,", "is_active"]
    export = admin_client.get("/admin/accounts/user/export/").content.decode()
    assert "last_activity" in export.split("This exporter will export the following fields")[1].split("</code>")[0]


def test_the_admin_import_page_shows_row_messages_and_offers_no_confirmation(admin_client):
    User.objects.create_user(email="ada@example.com", phone="+15551230001")
    response = upload(admin_client, "email,phone\nann@example.com,\nbob@example.com,+15551230001\n")
    # import-export keeps the upload for a confirmation that will not come.
    stored = response.context["form"].cleaned_data["import_file"].tmp_storage_name
    user_admin().get_tmp_storage_class()(name=stored).remove()
    assert response.status_code == 200
    page = response.content.decode()
    assert "row 2 (line 3): phone +15551230001 is already used by another user" in page
    assert "duplicate key" not in page and "IntegrityError" not in page
    assert "confirm_form" not in response.context
    assert not User.objects.filter(email="ann@example.com").exists()


def test_the_admin_import_of_a_good_file_is_confirmed_and_saved(admin_client):
    response = upload(admin_client, "email,phone,first_name\nann@example.com,,Ann\nbob@example.com,,Bob\n")
    assert response.status_code == 200
    confirm = response.context["confirm_form"]
    confirmed = admin_client.post("/admin/accounts/user/process_import/", confirm.initial)
    assert confirmed.status_code == 302
    assert set(User.objects.filter(phone=None).values_list("email", flat=True)) >= {
        "ann@example.com",
        "bob@example.com",
    }


def test_an_exported_name_is_never_a_spreadsheet_formula():
    User.objects.create_user(email="mallory@example.com", first_name='=HYPERLINK("http://evil")')
    exported = CSV().export_data(UserResource().export())  # what the admin's export sends
    assert "=HYPERLINK" not in exported
    assert "HYPERLINK" in exported
