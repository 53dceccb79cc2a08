from __future__ import annotations

from typing import Any

from cfg.models.core import CoreConfig

HEALTH_PATHS = [r"^healthz$", r"^readyz$"]


def security_settings(config: CoreConfig) -> dict[str, Any]:
    security = config.security
    csp_key = "SECURE_CSP_REPORT_ONLY" if security.csp_report_only else "SECURE_CSP"
    settings: dict[str, Any] = {
        "ALLOWED_HOSTS": list(security.allowed_hosts),
        "CSRF_TRUSTED_ORIGINS": list(security.csrf_trusted_origins),
        "CORS_ALLOWED_ORIGINS": list(security.cors_allowed_origins),
        "CORS_ALLOW_CREDENTIALS": security.cors_allow_credentials,
        "SECURE_SSL_REDIRECT": security.ssl_redirect,
        # Load balancers and orchestrators probe over plain HTTP.
        "SECURE_REDIRECT_EXEMPT": HEALTH_PATHS,
        "SECURE_HSTS_SECONDS": security.hsts_seconds,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": security.hsts_include_subdomains,
        "SECURE_HSTS_PRELOAD": security.hsts_preload,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "SESSION_COOKIE_SECURE": security.secure_cookies,
        "CSRF_COOKIE_SECURE": security.secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "TRUSTED_PROXIES": list(security.trusted_proxies),
        "MAX_UPLOAD_BYTES": security.max_upload_bytes,
        csp_key: {directive: list(values) for directive, values in security.csp.items()},
        "ADMIN_CSP": {directive: list(values) for directive, values in {**security.csp, **security.admin_csp}.items()},
    }
    if security.behind_proxy:
        settings["SECURE_PROXY_SSL_HEADER"] = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings
