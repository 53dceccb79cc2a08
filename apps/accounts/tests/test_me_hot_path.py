"""The hot path of an authenticated read: GET /api/accounts/me/ with a JWT."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from apps.accounts import authentication
from apps.accounts.api.common import UserSerializer
from apps.accounts.authentication import UNREAD_COLUMNS, JWTAuthentication, user_by_id
from apps.accounts.models import RegistrationSource, User
from apps.accounts.tests.conftest import signed_in_as, url

pytestmark = pytest.mark.django_db


def test_the_api_authenticates_jwt_with_the_lighter_user_select(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"][0] == (
        f"{JWTAuthentication.__module__}.{JWTAuthentication.__qualname__}"
    )


def test_a_read_is_one_select_without_the_password_hash(user):
    User.objects.filter(pk=user.pk).update(last_activity=timezone.now())
    api = signed_in_as(user)
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url("me"))
    assert response.status_code == 200, response.json()
    assert response.json()["email"] == "ada@example.com"
    assert len(queries) == 1, [query["sql"] for query in queries]
    select = queries[0]["sql"]
    assert select.startswith("SELECT") and '"accounts_user"."last_activity"' in select
    assert not any(f'"accounts_user"."{column}"' in select for column in UNREAD_COLUMNS)


def test_a_stale_last_activity_adds_one_update_of_that_column_only(user):
    User.objects.filter(pk=user.pk).update(last_activity=timezone.now() - timedelta(days=1))
    api = signed_in_as(user)
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url("me")).status_code == 200
    assert len(queries) == 2, [query["sql"] for query in queries]
    assert queries[1]["sql"].startswith('UPDATE "accounts_user" SET "last_activity"')


def test_writes_through_the_deferred_user_keep_the_password(user):
    user.set_password("pw-long-enough-123")
    user.save()
    api = signed_in_as(user)
    response = api.patch(url("me"), {"first_name": "Grace"}, format="json")
    assert response.status_code == 200, response.json()
    user.refresh_from_db()
    assert user.first_name == "Grace"
    assert user.check_password("pw-long-enough-123")
    loaded = user_by_id(user.pk)
    assert loaded is not None
    loaded.last_name = "Hopper"
    with CaptureQueriesContext(connection) as queries:
        loaded.save()  # the loaded fields only: the password is not written back
    assert len(queries) == 1 and '"password"' not in queries[0]["sql"]
    loaded.set_unusable_password()
    loaded.deleted_at = timezone.now()
    loaded.save()  # both assigned, so both written
    user.refresh_from_db()
    assert user.last_name == "Hopper" and not user.has_usable_password() and user.deleted_at is not None


def test_inactive_and_unknown_users_are_refused_as_before(user):
    api = signed_in_as(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api.get(url("me")).json()["error_code"] == "user_inactive"
    User.objects.filter(pk=user.pk).delete()
    assert api.get(url("me")).json()["error_code"] == "user_not_found"


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        {"phone": "+14155550100", "telegram_chat_id": "42", "registration_source": RegistrationSource.SMS},
        {"email": "b@example.com", "avatar": "avatars/1/a.png", "last_login": timezone.now()},
    ],
)
def test_the_written_out_body_is_drfs_generic_representation(fields, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    user = User.objects.create_user(**fields)
    user = User.objects.defer(*UNREAD_COLUMNS).get(pk=user.pk)
    request = APIRequestFactory().get("/", HTTP_HOST="testserver")
    serializer = UserSerializer(user, context={"request": request})
    assert serializer.data == serializers.ModelSerializer.to_representation(serializer, user)
    assert list(serializer.data) == list(UserSerializer.Meta.fields)


def loaded_values(user: User) -> dict[str, object]:
    return {field.attname: user.__dict__.get(field.attname, "<deferred>") for field in User._meta.concrete_fields}


@pytest.mark.parametrize("compiled", [True, False])
def test_user_by_id_loads_what_the_orm_loads(user, compiled, monkeypatch):
    if not compiled:  # a custom field with a database conversion: the ORM loads the user
        monkeypatch.setattr(authentication, "_compiled", {"default": None})
    User.objects.filter(pk=user.pk).update(last_activity=timezone.now(), phone="+14155550100")
    expected = User.objects.defer(*UNREAD_COLUMNS).get(pk=user.pk)
    with CaptureQueriesContext(connection) as queries:
        found = user_by_id(str(user.pk))
    assert len(queries) == 1
    assert found is not None and found.pk == user.pk
    assert loaded_values(found) == loaded_values(expected)
    assert found.get_deferred_fields() == set(UNREAD_COLUMNS)
    assert found._state.db == "default" and not found._state.adding


@pytest.mark.parametrize("user_id", ["0", "999999", "not-a-number", None])
def test_user_by_id_finds_no_one_for_an_unknown_or_malformed_key(db, user_id):
    assert user_by_id(user_id) is None
