"""The storage section: uploaded files on the local disk, or on an S3-compatible bucket shared by every replica."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from storages.backends.s3 import S3Storage  # type: ignore[import-untyped]

from cfg.introspection import MASK, masked_dump

from .conftest import PRODUCTION, Project

TEST = {"DJANGO_ENV": "test"}
PREFIX = "Invalid configuration: "
KEYS = {"STORAGE__S3_ACCESS_KEY_ID": "AKIDEXAMPLE", "STORAGE__S3_SECRET_ACCESS_KEY": "s3-secret-value"}
S3 = "storages.backends.s3.S3Storage"


def storages_for(project: Project, environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = project.load(environ).get_all_settings()
    return settings["STORAGES"], settings


def test_without_a_bucket_files_stay_on_the_local_disk(project: Project) -> None:
    storages, settings = storages_for(project, TEST)

    assert storages["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert storages["private"] == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": settings["DATA_DIR"] / "private", "base_url": None},
    }
    assert settings["MEDIA_URL"] == "/media/"
    assert settings["MEDIA_ROOT"] == settings["DATA_DIR"] / "media"


def test_a_bucket_on_a_custom_endpoint_holds_media_and_private_files(project: Project) -> None:
    environ = {
        **TEST,
        **KEYS,
        "STORAGE__S3_BUCKET": "uploads",
        "STORAGE__S3_ENDPOINT_URL": "https://minio.internal:9000/",
        "STORAGE__S3_REGION": "eu-central-1",
        "STORAGE__S3_QUERYSTRING_AUTH": "false",
    }
    storages, settings = storages_for(project, environ)

    common = {
        "bucket_name": "uploads",
        "endpoint_url": "https://minio.internal:9000",
        "region_name": "eu-central-1",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "s3-secret-value",
        "custom_domain": None,
        "default_acl": None,
        "file_overwrite": False,
        "signature_version": "s3v4",
        "addressing_style": "path",
    }
    assert storages["default"] == {
        "BACKEND": S3,
        "OPTIONS": {**common, "location": "media", "querystring_auth": False},
    }
    # Private files are signed whatever the media do.
    assert storages["private"] == {
        "BACKEND": S3,
        "OPTIONS": {**common, "location": "private", "querystring_auth": True},
    }
    assert settings["MEDIA_URL"] == "/media/"
    assert storages["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"


def test_on_aws_without_keys_the_role_signs_and_a_custom_domain_serves_only_media(project: Project) -> None:
    environ = {
        **PRODUCTION,
        "STORAGE__S3_BUCKET": "uploads",
        "STORAGE__S3_CUSTOM_DOMAIN": "media.example.com",
        "STORAGE__S3_LOCATION": "/site/media/",
    }
    storages, settings = storages_for(project, environ)

    media, private = storages["default"]["OPTIONS"], storages["private"]["OPTIONS"]
    assert media["access_key"] is None and media["secret_key"] is None
    assert media["endpoint_url"] is None and "addressing_style" not in media
    assert (media["custom_domain"], media["location"], media["querystring_auth"]) == (
        "media.example.com",
        "site/media",
        True,
    )
    assert (private["custom_domain"], private["location"], private["querystring_auth"]) == (None, "private", True)
    assert settings["MEDIA_URL"] == "https://media.example.com/site/media/"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param(
            {"STORAGE__S3_BUCKET": "uploads", "STORAGE__S3_ENDPOINT_URL": "http://minio:9000"},
            "storage (from env var STORAGE): s3_bucket is set for a custom s3_endpoint_url without s3_access_key_id "
            "and s3_secret_access_key. Fix: set STORAGE__S3_ACCESS_KEY_ID and STORAGE__S3_SECRET_ACCESS_KEY "
            "(only AWS S3 can use an instance role)",
            id="custom-endpoint-without-keys",
        ),
        pytest.param(
            {"STORAGE__S3_BUCKET": "uploads", "STORAGE__S3_ACCESS_KEY_ID": "AKIDEXAMPLE"},
            "storage (from env var STORAGE): s3_bucket is set with only one of s3_access_key_id and "
            "s3_secret_access_key (s3_secret_access_key is empty). Fix: set both STORAGE__S3_ACCESS_KEY_ID and "
            "STORAGE__S3_SECRET_ACCESS_KEY, or neither to use the AWS role",
            id="half-a-key-pair",
        ),
        pytest.param(
            {"STORAGE__S3_ENDPOINT_URL": "minio:9000"},
            "storage.s3_endpoint_url (from env var STORAGE__S3_ENDPOINT_URL): 'minio:9000' is not an http(s) URL. "
            "Fix: write it as https://minio.internal:9000",
            id="endpoint-without-scheme",
        ),
        pytest.param(
            {"STORAGE__S3_CUSTOM_DOMAIN": "https://cdn.example.com"},
            "storage.s3_custom_domain (from env var STORAGE__S3_CUSTOM_DOMAIN): 'https://cdn.example.com' is not a "
            "host name. Fix: write the host alone, e.g. media.example.com",
            id="custom-domain-with-scheme",
        ),
        pytest.param(
            {"STORAGE__S3_LOCATION": "private/media"},
            "storage.s3_location (from env var STORAGE__S3_LOCATION): 'private/media' would put media among the "
            "private files. Fix: choose another prefix, e.g. media",
            id="media-among-private-files",
        ),
    ],
)
def test_invalid_storage_is_one_readable_line(project: Project, environ: dict[str, str], expected: str) -> None:
    assert project.problems({**TEST, **environ}) == [PREFIX + expected]


def test_a_bucket_without_keys_from_yaml_names_the_yaml_key(project: Project) -> None:
    project.yaml("test", "storage:\n  s3_bucket: uploads\n  s3_endpoint_url: http://minio:9000\n")

    [problem] = project.problems(TEST)
    assert problem.startswith(f"{PREFIX}storage (from config/environments/test.yaml key storage): s3_bucket is set")


def test_the_keys_are_masked_in_show_config(project: Project) -> None:
    config = project.load({**TEST, **KEYS, "STORAGE__S3_BUCKET": "uploads"})

    dumped = masked_dump(config)["storage"]
    assert dumped["s3_access_key_id"] == MASK and dumped["s3_secret_access_key"] == MASK
    assert dumped["s3_bucket"] == "uploads"
    assert "s3-secret-value" not in repr(config) and "AKIDEXAMPLE" not in repr(config.storage)


class FakeS3(BaseHTTPRequestHandler):
    """The smallest S3 at the HTTP boundary: path-style PUT, GET and HEAD of whole objects."""

    objects: dict[str, bytes]

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _key(self) -> str:
        return urlsplit(self.path).path

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if "aws-chunked" in self.headers.get("Content-Encoding", ""):
            body = _decode_aws_chunked(body)
        self.objects[self._key()] = body
        self.send_response(200)
        self.send_header("ETag", '"fake"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def _answer(self, *, with_body: bool) -> None:
        body = self.objects.get(self._key())
        if body is None:
            missing = b"<Error><Code>NoSuchKey</Code><Message>Not found</Message></Error>"
            self.send_response(404)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(missing)))
            self.end_headers()
            if with_body:
                self.wfile.write(missing)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"fake"')
        self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
        self.end_headers()
        if with_body:
            self.wfile.write(body)


def _decode_aws_chunked(body: bytes) -> bytes:
    """botocore may stream an upload as aws-chunked: hex-size;extensions CRLF data CRLF ..., a 0 chunk, trailers."""
    data, rest = b"", body
    while rest:
        header, _, rest = rest.partition(b"\r\n")
        size = int(header.split(b";")[0], 16)
        if size == 0:
            break
        data, rest = data + rest[:size], rest[size + 2 :]
    return data


@pytest.fixture
def fake_s3() -> Iterator[tuple[str, type[FakeS3]]]:
    handler = type("Handler", (FakeS3,), {"objects": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_file_round_trips_through_an_s3_compatible_endpoint(
    project: Project, fake_s3: tuple[str, type[FakeS3]]
) -> None:
    endpoint, server = fake_s3
    environ = {
        **TEST,
        **KEYS,
        "STORAGE__S3_BUCKET": "uploads",
        "STORAGE__S3_ENDPOINT_URL": endpoint,
        "STORAGE__S3_REGION": "us-east-1",
    }
    storages, _ = storages_for(project, environ)
    storage = S3Storage(**storages["private"]["OPTIONS"])

    assert not storage.exists("notes/hello.txt")
    name = storage.save("notes/hello.txt", ContentFile(b"hello, bucket"))
    assert name == "notes/hello.txt"
    assert server.objects == {"/uploads/private/notes/hello.txt": b"hello, bucket"}
    assert storage.exists(name)
    with storage.open(name) as stored:
        assert stored.read() == b"hello, bucket"
    # A second file of the same name gets a new name: replicas never overwrite each other's uploads.
    assert storage.save("notes/hello.txt", ContentFile(b"again")) != name
    url = storage.url(name)
    assert url.startswith(f"{endpoint}/uploads/private/notes/hello.txt?") and "X-Amz-Signature=" in url
