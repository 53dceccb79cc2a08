from __future__ import annotations

from typing import Any

from cfg.environment import Environment
from cfg.models.core import CoreConfig


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
        "MEDIA_URL": "/media/",
        "MEDIA_ROOT": config.data_path / "media",
        "STORAGES": {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            # Files that only the app's own views may hand out (knowbase originals): outside MEDIA_ROOT, which the
            # proxy serves to anyone.
            "private": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": config.data_path / "private", "base_url": None},
            },
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
