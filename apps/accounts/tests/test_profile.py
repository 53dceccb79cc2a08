from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.activity import activity_record
from apps.accounts.models import Activity, ActivityLog, User
from apps.accounts.tests.conftest import delete_account, url

pytestmark = pytest.mark.django_db


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, kind)
    return buffer.getvalue()


def upload(api, content: bytes, name: str = "me.png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post(
        url("me-avatar"),
        {"avatar": SimpleUploadedFile(name, content, content_type="image/png")},
        format="multipart",
    )


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", url("me")),
        ("patch", url("me")),
        ("delete", url("me")),
        ("post", url("me-avatar")),
        ("get", url("me-activity")),
    ],
)
def test_profile_endpoints_need_a_signed_in_user(api, method, path):
    assert getattr(api, method)(path).status_code == 401


def test_read_own_profile_only(signed_in, user):
    other = User.objects.create_user(email="eve@example.com", first_name="Eve")
    body = signed_in.get(url("me")).json()
    assert body["id"] == user.pk
    assert body["email"] == "ada@example.com"
    assert "Eve" not in str(body)
    other.refresh_from_db()
    assert other.first_name == "Eve"


def test_update_profile(signed_in, user):
    response = signed_in.patch(url("me"), {"first_name": "Ada", "last_name": "Lovelace"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    log = ActivityLog.objects.get(action=Activity.PROFILE_UPDATED)
    assert log.details == {"fields": ["last_name"]}
    assert log.user == user


def test_fixed_fields_cannot_be_changed(signed_in, user):
    other = User.objects.create_user(email="eve@example.com")
    response = signed_in.patch(url("me"), {"email": "x@example.com", "id": other.pk}, format="json")
    assert response.status_code == 400
    assert "cannot be changed here: email, id" in response.json()["detail"]
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    for field in ("is_staff", "is_superuser", "registration_source"):
        assert signed_in.patch(url("me"), {field: True}, format="json").status_code == 400
    assert not User.objects.filter(is_staff=True).exists()


def test_bad_profile_values_are_400(signed_in):
    response = signed_in.patch(url("me"), {"first_name": "x" * 151}, format="json")
    assert response.status_code == 400


def test_avatar_upload(signed_in, user, django_capture_on_commit_callbacks):
    response = upload(signed_in, image_bytes("PNG"), name="../../evil.php")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.avatar.name.startswith("avatars/")
    assert user.avatar.name.endswith(".png")
    assert "evil" not in user.avatar.name
    assert response.json()["avatar"].endswith(user.avatar.name)
    first = user.avatar.name

    with django_capture_on_commit_callbacks(execute=True):
        assert upload(signed_in, image_bytes("JPEG"), name="me.jpg").status_code == 200
    user.refresh_from_db()
    assert user.avatar.name.endswith(".jpg")
    assert not user.avatar.storage.exists(first)


def test_avatar_too_large(signed_in, settings):
    settings.ACCOUNTS = {**settings.ACCOUNTS, "AVATAR_MAX_BYTES": 1024}
    response = upload(signed_in, image_bytes("PNG", (200, 200)) + b"\0" * 2048)
    assert response.status_code == 400
    assert "the limit is 1024 bytes" in response.json()["avatar"][0]


def test_avatar_wrong_type(signed_in):
    response = upload(signed_in, image_bytes("GIF"), name="me.png")
    assert response.status_code == 400
    assert "must be jpeg, png, webp; this one is gif" in response.json()["avatar"][0]
    response = upload(signed_in, b"<?php echo 1; ?>", name="me.png")
    assert response.status_code == 400
    assert response.json()["avatar"] == ["The file is not an image that can be read."]


def test_avatar_missing_is_400(signed_in):
    response = signed_in.post(url("me-avatar"), {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["avatar"] == ["No file was submitted."]


def test_delete_account(signed_in, user, smtp):
    token = RefreshToken.for_user(user)
    assert delete_account(signed_in, smtp).status_code == 204
    user.refresh_from_db()
    assert not user.is_active
    assert user.deleted_at is not None
    assert user.first_name == ""
    assert ActivityLog.objects.filter(user=user, action=Activity.ACCOUNT_DELETED).exists()
    signed_in.credentials()
    assert signed_in.post(url("token-refresh"), {"refresh": str(token)}, format="json").status_code == 401


def test_activity_list_is_own_and_paginated_in_constant_queries(signed_in, user, django_assert_num_queries):
    other = User.objects.create_user(email="eve@example.com")
    activity_record(action=Activity.SIGN_IN, user=other)
    for _ in range(3):
        activity_record(action=Activity.SIGN_IN, user=user)
    User.objects.filter(pk=user.pk).update(last_activity=timezone.now())  # no last-activity write in the count
    # user lookup (JWT), count, page
    with django_assert_num_queries(3):
        response = signed_in.get(url("me-activity"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    for _ in range(20):
        activity_record(action=Activity.PROFILE_UPDATED, user=user)
    with django_assert_num_queries(3):
        body = signed_in.get(url("me-activity")).json()
    assert body["count"] == 23
    assert len(body["results"]) == 20
    assert {"action", "ip", "user_agent", "details", "created_at"} <= set(body["results"][0])


def test_last_activity_is_written_at_most_once_per_interval(signed_in, user, django_assert_num_queries):
    assert user.last_activity is None
    signed_in.get(url("me"))
    user.refresh_from_db()
    first = user.last_activity
    assert first is not None
    with django_assert_num_queries(1):  # the JWT user lookup only: no write
        signed_in.get(url("me"))
    user.refresh_from_db()
    assert user.last_activity == first
    User.objects.filter(pk=user.pk).update(last_activity=timezone.now() - timedelta(minutes=6))
    signed_in.get(url("me"))
    user.refresh_from_db()
    assert user.last_activity > first


def test_avatar_is_stored_without_metadata_or_trailing_bytes(signed_in, user):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera maker; GPS coordinates travel the same way
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "JPEG", exif=exif)
    assert upload(signed_in, buffer.getvalue(), name="me.jpg").status_code == 200
    user.refresh_from_db()
    stored = user.avatar.read()
    assert b"SecretCam" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.size) == ("JPEG", (8, 8))
        assert not image.getexif()

    polyglot = image_bytes("PNG") + b"<html><script>alert(1)</script></html>"
    assert upload(signed_in, polyglot).status_code == 200
    user.refresh_from_db()
    assert b"<script>" not in user.avatar.read()


def test_avatar_that_does_not_decode_is_refused(signed_in, user):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # Every chunk well formed (so PIL's verify() passes), but the pixel data is empty.
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
    hollow = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    response = upload(signed_in, hollow)
    assert response.status_code == 400
    assert response.json()["avatar"] == ["The file is not an image that can be read."]
    user.refresh_from_db()
    assert not user.avatar


def test_a_list_pages_by_the_size_asked_for_up_to_the_maximum(signed_in, user, settings):
    settings.API_MAX_PAGE_SIZE = 3
    ActivityLog.objects.bulk_create([ActivityLog(user=user, action=Activity.PROFILE_UPDATED) for _ in range(5)])
    assert len(signed_in.get(url("me-activity"), {"page_size": 2}).json()["results"]) == 2
    capped = signed_in.get(url("me-activity"), {"page_size": 1000}).json()
    assert (len(capped["results"]), capped["count"]) == (3, 5)
