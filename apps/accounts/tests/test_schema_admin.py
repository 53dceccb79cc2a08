from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from apps.accounts.models import OtpRequest, RegistrationSource, User
from apps.accounts.tests.conftest import code_in, request_code

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/auth/otp/request/": {"post": True},
    "/api/auth/otp/verify/": {"post": True},
    "/api/auth/token/refresh/": {"post": True},
    "/api/auth/logout/": {"post": True},
    "/api/accounts/me/": {"get": False, "patch": True, "delete": False},
    "/api/accounts/me/avatar/": {"post": True},
    "/api/accounts/me/telegram/": {"post": True, "delete": False},
    "/api/accounts/me/telegram/confirm/": {"post": True},
    "/api/accounts/me/activity/": {"get": False},
}


def test_every_endpoint_is_in_the_schema_with_its_bodies(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    for path, methods in ENDPOINTS.items():
        assert path in schema["paths"], path
        for method, has_body in methods.items():
            operation = schema["paths"][path][method]
            assert ("requestBody" in operation) is has_body, (path, method)
            success = next(code for code in operation["responses"] if code.startswith("2"))
            if success != "204":
                assert operation["responses"][success]["content"]["application/json"]["schema"], (path, method)
    verify_ok = schema["paths"]["/api/auth/otp/verify/"]["post"]["responses"]["200"]
    ref = verify_ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"access", "refresh", "user"} <= set(schema["components"]["schemas"][ref]["properties"])
    request_codes = schema["paths"]["/api/auth/otp/request/"]["post"]["responses"]
    assert {"200", "400", "429", "503"} <= set(request_codes)
    link = schema["paths"]["/api/accounts/me/telegram/"]["post"]["responses"]
    assert {"200", "400", "401", "429", "503"} <= set(link)
    confirm = schema["paths"]["/api/accounts/me/telegram/confirm/"]["post"]["requestBody"]["content"]
    ref = confirm["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["required"]) == {"telegram_code", "account_code"}
    avatar = schema["paths"]["/api/accounts/me/avatar/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in avatar


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser(email="root@example.com", password="pw-long-enough-123")
    client.force_login(admin)
    return client


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
    from apps.accounts.services import activity_record

    activity_record("sign_in", user=user)
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
