from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.accounts import services
from apps.accounts.exceptions import InvalidRefreshToken
from apps.accounts.models import User
from apps.accounts.tests.conftest import bearer, url

pytestmark = pytest.mark.django_db


def refresh(api, token):
    return api.post(url("token-refresh"), {"refresh": token}, format="json")


def logout(api, token):
    return api.post(url("logout"), {"refresh": token}, format="json")


def test_refresh_rotates_and_the_old_token_is_spent(api, user):
    old = str(RefreshToken.for_user(user))
    first = refresh(api, old)
    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"}
    assert refresh(api, old).status_code == 401
    assert refresh(api, first.json()["refresh"]).status_code == 200


def test_refresh_rejects_garbage_and_missing_tokens(api):
    bad = refresh(api, "not-a-token")
    assert bad.status_code == 401
    assert "invalid" in bad.json()["detail"]
    missing = api.post(url("token-refresh"), {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["refresh"] == ["This field is required."]


def test_refresh_refused_for_an_inactive_user(api, user):
    token = str(RefreshToken.for_user(user))
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert refresh(api, token).status_code == 401


def test_logout_blacklists_the_refresh_token(api, user):
    token = str(RefreshToken.for_user(user))
    response = logout(api, token)
    assert response.status_code == 200
    assert response.json() == {"detail": "Signed out."}
    assert refresh(api, token).status_code == 401
    assert logout(api, token).status_code == 401


def test_logout_of_another_users_token_is_forbidden(api, user):
    other = User.objects.create_user(email="eve@example.com")
    victim_token = str(RefreshToken.for_user(user))
    bearer(api, str(RefreshToken.for_user(other).access_token))
    response = logout(api, victim_token)
    assert response.status_code == 403
    assert "another user" in response.json()["detail"]
    api.credentials()
    assert refresh(api, victim_token).status_code == 200


def test_logout_ignores_an_invalid_or_expired_access_token(api, user):
    """The access token is short-lived: sign-out must still revoke the refresh token once it has expired."""
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    other = User.objects.create_user(email="eve@example.com")
    expired_other = AccessToken.for_user(other)
    expired_other.set_exp(lifetime=-timedelta(minutes=1))
    for access in ("garbage", str(expired), str(expired_other)):
        token = str(RefreshToken.for_user(user))
        response = bearer(api, access).post(url("logout"), {"refresh": token}, format="json")
        assert response.status_code == 200, (access, response.json())
        api.credentials()
        assert refresh(api, token).status_code == 401  # revoked


def test_logout_with_a_valid_access_token_of_the_owner(api, user):
    token = RefreshToken.for_user(user)
    assert logout(bearer(api, str(token.access_token)), str(token)).status_code == 200
    api.credentials()
    assert refresh(api, str(token)).status_code == 401


def test_logout_needs_a_token(api):
    response = api.post(url("logout"), {}, format="json")
    assert response.status_code == 400
    assert response.json()["refresh"] == ["This field is required."]


def test_a_refresh_token_spent_by_a_concurrent_request_is_not_rotated_again(api, user):
    raw = str(RefreshToken.for_user(user))
    verified = RefreshToken(raw)  # type: ignore[arg-type]  # this request has checked the blacklist...
    assert refresh(api, raw).status_code == 200  # ...when another request rotates the same token
    with pytest.raises(InvalidRefreshToken):
        services.token_rotate(refresh=verified)


@pytest.mark.django_db(transaction=True)
def test_parallel_refreshes_of_one_token_yield_one_new_pair(user):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections
    from rest_framework.test import APIClient

    raw = str(RefreshToken.for_user(user))

    def attempt(_: int) -> int:
        try:
            status: int = refresh(APIClient(), raw).status_code
            return status
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [401] * 7
