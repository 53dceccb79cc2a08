"""The admin lists users, their activity and the codes sent, never a code itself; the dashboard counts them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from unfold.admin import ModelAdmin
from unfold.widgets import INPUT_CLASSES

from apps.accounts.models import Activity, ActivityLog, Channel, OtpRequest, OtpStatus, RegistrationSource, User
from apps.accounts.tests.conftest import code_in, request_code
from modules.unfold.testing import dashboard_chart, dashboard_figures, inputs, links

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


def test_users_created_without_a_source_get_the_configured_default(db, settings):
    assert User.objects.create_user(email="a@example.com").registration_source == RegistrationSource.ADMIN
    settings.ACCOUNTS = {**settings.ACCOUNTS, "DEFAULT_REGISTRATION_SOURCE": "import"}
    assert User.objects.create_user(email="b@example.com").registration_source == RegistrationSource.IMPORT
    sms = User.objects.create_user(phone="+15551234567", registration_source=RegistrationSource.SMS)
    assert sms.registration_source == RegistrationSource.SMS


def test_the_add_user_form_has_unfolds_password_inputs_and_creates_a_user(admin_client):
    page = admin_client.get("/admin/accounts/user/add/").content.decode()
    for name in ("password1", "password2"):
        [field] = inputs(page, name)
        assert field["type"] == "password"
        assert set(INPUT_CLASSES) <= set(field["class"].split()), name
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new@example.com",
            "phone": "",
            "usable_password": "true",
            "password1": "a-long-admin-password-1",
            "password2": "a-long-admin-password-1",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert User.objects.get(email="new@example.com").check_password("a-long-admin-password-1")


def test_the_change_page_links_to_unfolds_password_form(admin_client, user):
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "../password/" in links(page)
    password_page = admin_client.get(f"/admin/accounts/user/{user.pk}/password/").content.decode()
    [field] = inputs(password_page, "password1")
    assert set(INPUT_CLASSES) <= set(field["class"].split())
    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"usable_password": "true", "password1": "a-long-admin-password-2", "password2": "a-long-admin-password-2"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-long-admin-password-2")


def test_groups_have_unfolds_admin(admin_client):
    assert isinstance(admin.site._registry[Group], ModelAdmin)
    assert admin_client.get("/admin/auth/group/add/").status_code == 200
    assert admin_client.post("/admin/auth/group/add/", {"name": "Support"}).status_code == 302
    assert Group.objects.filter(name="Support").exists()


def test_token_tables_are_read_only_audit_lists(admin_client, user):
    refresh = RefreshToken.for_user(user)
    refresh.blacklist()
    issued = OutstandingToken.objects.get()
    revoked = BlacklistedToken.objects.get()
    for model, row in ((OutstandingToken, issued), (BlacklistedToken, revoked)):
        assert isinstance(admin.site._registry[model], ModelAdmin)
        base = f"/admin/token_blacklist/{model._meta.model_name}/"
        listing = admin_client.get(f"{base}?q=ada")
        assert listing.status_code == 200 and "ada@example.com" in listing.content.decode()
        assert admin_client.get(f"{base}{row.pk}/change/").status_code == 200
        assert admin_client.get(f"{base}add/").status_code == 403
        assert admin_client.post(f"{base}{row.pk}/change/", {}).status_code == 403
        assert admin_client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert BlacklistedToken.objects.filter(token=issued).exists()


def test_the_dashboard_counts_users_sign_ins_and_failed_deliveries(admin_client):
    now = timezone.now()
    for number, days_ago in enumerate((0, 3, 10, 40)):
        fresh = User.objects.create_user(email=f"u{number}@example.com")
        User.objects.filter(pk=fresh.pk).update(date_joined=now - timedelta(days=days_ago))
    for days_ago in (0, 0, 1, 29, 31):
        ActivityLog.objects.create(action=Activity.SIGN_IN, created_at=now - timedelta(days=days_ago))
    ActivityLog.objects.create(action=Activity.SIGN_IN_FAILED, created_at=now)
    for status, days_ago in ((OtpStatus.FAILED, 1), (OtpStatus.FAILED, 6), (OtpStatus.FAILED, 8), (OtpStatus.SENT, 0)):
        otp = OtpRequest.objects.create(
            identifier="x@example.com", channel=Channel.EMAIL, salt="s", code_hash="h", status=status, expires_at=now
        )
        OtpRequest.objects.filter(pk=otp.pk).update(created_at=now - timedelta(days=days_ago))

    page = admin_client.get("/admin/").content.decode()

    figures = dashboard_figures(page)
    assert figures["users_total"] == str(User.objects.count()) == "5"
    assert figures["users_new"] == "3"  # two of the four, and the admin that admin_client signs in
    assert figures["sign_ins"] == "4"  # the one 31 days ago and the failed one do not count
    assert figures["otp_failed"] == "2"
    chart = dashboard_chart(page, "sign_ins_per_day")
    [sign_ins] = chart["datasets"]
    assert len(chart["labels"]) == len(sign_ins["data"]) == 30
    assert sign_ins["data"][-1] == 2 and sign_ins["data"][-2] == 1 and sum(sign_ins["data"]) == 4


def test_the_dashboard_shows_staff_only_what_they_may_view(client):
    staff = User.objects.create_user(email="staff@example.com", password="pw-123456789", is_staff=True)
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert dashboard_figures(page) == {}
