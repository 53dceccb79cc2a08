"""Uploaded files (media and private files) on S3-compatible object storage, shared by every web replica.

With no bucket the files stay on the local disk under DATA_DIR, which only one replica can see."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from cfg.models.base import ConfigModel, split_url

PRIVATE_LOCATION = "private"


class StorageConfig(ConfigModel):
    s3_bucket: str = Field(
        default="", description="S3 bucket for uploaded files (empty: the local disk; one web replica only)"
    )
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint, e.g. https://minio.internal:9000 (empty: AWS S3)"
    )
    s3_region: str = Field(default="", description="Bucket region, e.g. eu-central-1 (empty: the client's default)")
    s3_access_key_id: SecretStr = Field(
        default=SecretStr(""), description="S3 access key ID (empty on AWS: the instance or task role)"
    )
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""), description="S3 secret access key")
    s3_custom_domain: str = Field(
        default="", description="Host name serving the media, e.g. a CDN such as media.example.com (empty: none)"
    )
    s3_querystring_auth: bool = Field(
        default=True, description="Signed, expiring media URLs (private files are always signed)"
    )
    s3_location: str = Field(default="media", description="Key prefix of media in the bucket")

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_is_a_url(cls, value: str) -> str:
        example = "https://minio.internal:9000"
        if value and (not value.startswith(("http://", "https://")) or not split_url(value, example).hostname):
            raise ValueError(f"{value!r} is not an http(s) URL; write it as {example}")
        return value.rstrip("/")

    @field_validator("s3_custom_domain")
    @classmethod
    def _custom_domain_is_a_host(cls, value: str) -> str:
        if "://" in value or "/" in value.strip("/"):
            raise ValueError(f"{value!r} is not a host name; write the host alone, e.g. media.example.com")
        return value.strip("/")

    @field_validator("s3_location")
    @classmethod
    def _location_is_not_the_private_prefix(cls, value: str) -> str:
        location = value.strip("/")
        if location.split("/")[0] == PRIVATE_LOCATION:
            raise ValueError(f"{value!r} would put media among the private files; choose another prefix, e.g. media")
        return location

    @model_validator(mode="after")
    def _credentials_for_the_bucket(self) -> Self:
        if not self.s3_bucket:
            return self
        has_id = bool(self.s3_access_key_id.get_secret_value())
        has_secret = bool(self.s3_secret_access_key.get_secret_value())
        if has_id != has_secret:
            missing = "s3_secret_access_key" if has_id else "s3_access_key_id"
            raise ValueError(
                f"s3_bucket is set with only one of s3_access_key_id and s3_secret_access_key ({missing} is empty); "
                "set both STORAGE__S3_ACCESS_KEY_ID and STORAGE__S3_SECRET_ACCESS_KEY, or neither to use the AWS role"
            )
        if self.s3_endpoint_url and not has_id:
            raise ValueError(
                "s3_bucket is set for a custom s3_endpoint_url without s3_access_key_id and s3_secret_access_key; "
                "set STORAGE__S3_ACCESS_KEY_ID and STORAGE__S3_SECRET_ACCESS_KEY (only AWS S3 can use an instance role)"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.s3_bucket)
