from __future__ import annotations

from typing import Any

from cfg.models.core import DjangoConfig

# Unfold's apps must come before django.contrib.admin so that its templates win.
ADMIN_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.constance",
    "django.contrib.admin",
]
DJANGO_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "constance",
    "import_export",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "apps.accounts.middleware.LastActivityMiddleware",
]


def apps_settings(config: DjangoConfig) -> dict[str, Any]:
    # accounts holds AUTH_USER_MODEL, so it is always installed; enable_accounts switches its API.
    enabled = config.enabled_apps()
    modules = [f"{config.modules_package}.{name}" for name in ("email", "telegram", "twilio")]
    local_apps = ["cfg", *modules, f"{config.apps_package}.accounts"] + [
        f"{config.apps_package}.{name}" for name in enabled if name != "accounts"
    ]
    return {
        "ENABLED_APPS": enabled,
        "INSTALLED_APPS": ADMIN_APPS + DJANGO_APPS + THIRD_PARTY_APPS + local_apps,
        "MIDDLEWARE": list(MIDDLEWARE),
        "AUTH_USER_MODEL": "accounts.User",
    }
