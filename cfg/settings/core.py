from __future__ import annotations

from typing import Any

from cfg.environment import Environment
from cfg.models.core import CoreConfig
from cfg.models.storage import PRIVATE_LOCATION, StorageConfig

S3_BACKEND = "storages.backends.s3.S3Storage"


def core_settings(config: CoreConfig) -> dict[str, Any]:
    base = config.base_dir
    settings: dict[str, Any] = {
        "BASE_DIR": base,
        "DATA_DIR": config.data_path,
        "PROJECT_NAME": config.project_name,
        "PROJECT_SLUG": config.project_slug,
        "CFG_CONFIG_CLASS": f"{type(config).__module__}.{type(config).__qualname__}",
        "ENVIRONMENT": config.env.value,
        "SITE_URL": config.site_url,
        "HOME_REDIRECT": config.home_redirect,
        # Password sign-in is the admin's alone (the API signs in with codes). Unfold's login form has no `next`
        # field, so a sign-in at /admin/login/ itself falls back to LOGIN_REDIRECT_URL: the admin, not Django's
        # /accounts/profile/, which does not exist here.
        "LOGIN_URL": "admin:login",
        "LOGIN_REDIRECT_URL": "admin:index",
        "SECRET_KEY": config.secret_key.get_secret_value(),
        "DEBUG": config.debug,
        "ROOT_URLCONF": "config.urls",
        "WSGI_APPLICATION": "config.wsgi.application",
        "ASGI_APPLICATION": "config.asgi.application",
        "TIME_ZONE": config.time_zone,
        "USE_TZ": True,
        "USE_I18N": True,
        "LANGUAGE_CODE": config.language_code,
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "STATIC_URL": "/static/",
        "STATIC_ROOT": base / "staticfiles",
        "MEDIA_URL": media_url(config.storage),
        "MEDIA_ROOT": config.data_path / "media",
        "STORAGES": {
            **file_storages(config),
            "staticfiles": {
                "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                if config.env.is_deployed
                else "django.contrib.staticfiles.storage.StaticFilesStorage"
            },
        },
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [base / "templates"],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.template.context_processors.csp",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        # Django's form renderer, its engine importing a template tag library when a template loads it: Unfold renders
        # a widget when the admin is imported, and Django's would import every app's libraries then (~200 modules).
        "FORM_RENDERER": "modules.unfold.renderers.FormRenderer",
        "AUTH_PASSWORD_VALIDATORS": [
            {"NAME": f"django.contrib.auth.password_validation.{name}"}
            for name in (
                "UserAttributeSimilarityValidator",
                "MinimumLengthValidator",
                "CommonPasswordValidator",
                "NumericPasswordValidator",
            )
        ],
        # Exported cells that start with = + - @ are escaped: a spreadsheet would run a user's name as a formula.
        "IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT": True,
        # import-export lets every staff member import and export every model unless told otherwise: an import
        # needs the model's change permission (it adds and updates rows), an export its view permission.
        "IMPORT_EXPORT_IMPORT_PERMISSION_CODE": "change",
        "IMPORT_EXPORT_EXPORT_PERMISSION_CODE": "view",
    }
    if not config.env.is_deployed:
        # Serve static files straight from the apps: no collectstatic needed in development and tests.
        settings["WHITENOISE_AUTOREFRESH"] = True
        settings["WHITENOISE_USE_FINDERS"] = True
    if config.env is Environment.TEST:
        # Hashing is deliberately slow; tests do not need that protection.
        settings["PASSWORD_HASHERS"] = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


def media_url(storage: StorageConfig) -> str:
    """Informational only (the S3 storage builds its own URLs): the custom domain's prefix when one serves media."""
    if not (storage.enabled and storage.s3_custom_domain):
        return "/media/"
    prefix = f"{storage.s3_location}/" if storage.s3_location else ""
    return f"https://{storage.s3_custom_domain}/{prefix}"


def file_storages(config: CoreConfig) -> dict[str, Any]:
    """STORAGES["default"] (media) and STORAGES["private"]: the local disk, or the S3 bucket when one is set."""
    storage = config.storage
    if not storage.enabled:
        return {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            # Files that only the app's own views may hand out (knowbase originals, support attachments): outside
            # MEDIA_ROOT, which the proxy serves to anyone.
            "private": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": config.data_path / "private", "base_url": None},
            },
        }
    media = s3_options(storage, location=storage.s3_location)
    media.update(custom_domain=storage.s3_custom_domain or None, querystring_auth=storage.s3_querystring_auth)
    # Private files are never public: signed URLs on the bucket's own host, never the (public) custom domain.
    private = s3_options(storage, location=PRIVATE_LOCATION)
    return {
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": media},
        "private": {"BACKEND": S3_BACKEND, "OPTIONS": private},
    }


def s3_options(storage: StorageConfig, *, location: str) -> dict[str, Any]:
    """django-storages S3Storage options. Empty keys are None: boto3 then finds the AWS role itself."""
    options: dict[str, Any] = {
        "bucket_name": storage.s3_bucket,
        "endpoint_url": storage.s3_endpoint_url or None,
        "region_name": storage.s3_region or None,
        "access_key": storage.s3_access_key_id.get_secret_value() or None,
        "secret_key": storage.s3_secret_access_key.get_secret_value() or None,
        "custom_domain": None,
        "querystring_auth": True,
        "location": location,
        "default_acl": None,
        "file_overwrite": False,
        # botocore would presign with the retired Signature Version 2 on custom endpoints; every S3 speaks v4.
        "signature_version": "s3v4",
    }
    if storage.s3_endpoint_url:
        # S3-compatible servers (MinIO, Ceph, a test stand-in) seldom resolve bucket.host names.
        options["addressing_style"] = "path"
    return options
