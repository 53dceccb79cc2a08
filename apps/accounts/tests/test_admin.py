"""The admin lists users, their activity and the codes sent, never a code itself."""

from __future__ import annotations

import pytest

from apps.accounts.models import OtpRequest, RegistrationSource, User
from apps.accounts.tests.conftest import code_in, request_code

pytestmark = pytest.mark.django_db


def test_admin_pages_list_users_activity_and_codes_without_codes(admin_client, api, smtp):
    User.objects.create_user(phone="+15551234567", registration_source=RegistrationSource.SMS)
    request_code(api, "ada@example.com")
    code = code_in(smtp.messages[-1].text)
    otp = OtpRequest.objects.get()
    pages = [
        "/admin/accounts/user/",
        "/admin/accounts/user/?registration_source__exact=sms",
        "/admin/accounts/user/?q=5551234567",
        "/admin/accounts/activitylog/",
        "/admin/accounts/activitylog/?action__exact=otp_requested",
        "/admin/accounts/otprequest/",
        "/admin/accounts/otprequest/?q=ada",
        f"/admin/accounts/otprequest/{otp.pk}/change/",
        "/admin/accounts/user/export/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        assert code not in text, page
        assert otp.code_hash not in text, page
        assert otp.salt not in text, page
    users = admin_client.get("/admin/accounts/user/?registration_source__exact=sms").content.decode()
    assert "+15551234567" in users
    codes_page = admin_client.get("/admin/accounts/otprequest/?q=ada").content.decode()
    assert "ada@example.com" in codes_page


def test_user_admin_change_page_shows_activity(admin_client, user):
    from apps.accounts.activity import activity_record

    activity_record(action="sign_in", user=user)
    response = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert response.status_code == 200
    assert "Signed in" in response.content.decode()


def test_user_import_export_resource_round_trip(user):
    import tablib

    from apps.accounts.admin import UserResource

    exported = UserResource().export()
    assert "ada@example.com" in exported.csv
    data = tablib.Dataset(headers=["email", "first_name"])
    data.append(["imported@example.com", "Imp"])
    result = UserResource().import_data(data, dry_run=False)
    assert not result.has_errors()
    imported = User.objects.get(email="imported@example.com")
    assert imported.registration_source == RegistrationSource.IMPORT
    assert not imported.has_usable_password()


def test_users_created_without_a_source_get_the_configured_default(db, settings):
    assert User.objects.create_user(email="a@example.com").registration_source == RegistrationSource.ADMIN
    settings.ACCOUNTS = {**settings.ACCOUNTS, "DEFAULT_REGISTRATION_SOURCE": "import"}
    assert User.objects.create_user(email="b@example.com").registration_source == RegistrationSource.IMPORT
    sms = User.objects.create_user(phone="+15551234567", registration_source=RegistrationSource.SMS)
    assert sms.registration_source == RegistrationSource.SMS
