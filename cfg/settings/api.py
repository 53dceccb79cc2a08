from __future__ import annotations

from datetime import timedelta
from typing import Any

from cfg.catalog import provided
from cfg.models.core import CoreConfig


def api_settings(config: CoreConfig) -> dict[str, Any]:
    api = config.api
    throttle_rates = {"anon": api.throttle_anon, "user": api.throttle_user}
    return {
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": [
                provided("jwt_authentication"),
                "rest_framework.authentication.SessionAuthentication",
            ],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_PAGINATION_CLASS": provided("pagination"),
            "PAGE_SIZE": api.page_size,
            "DEFAULT_THROTTLE_CLASSES": [
                provided("anon_throttle"),
                provided("user_throttle"),
            ],
            "DEFAULT_THROTTLE_RATES": throttle_rates,
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
            # Multipart only where a view takes files (it names its parsers): elsewhere an upload is a 415 before
            # anything is parsed. Bodies too deep, too large or with too many fields answer a JSON 4xx, never a 500
            # or an HTML page.
            "DEFAULT_PARSER_CLASSES": [
                provided("json_parser"),
                "rest_framework.parsers.FormParser",
            ],
            "EXCEPTION_HANDLER": provided("exception_handler"),
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
            + (["rest_framework.renderers.BrowsableAPIRenderer"] if config.debug else []),
            "TEST_REQUEST_DEFAULT_FORMAT": "json",
        },
        "SPECTACULAR_SETTINGS": {
            "TITLE": api.title or f"{config.project_name} API",
            "DESCRIPTION": api.description,
            "VERSION": api.version,
            "SERVE_INCLUDE_SCHEMA": False,
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            "REDOC_DIST": "SIDECAR",
            "COMPONENT_SPLIT_REQUEST": True,
        },
        "SIMPLE_JWT": {
            "ACCESS_TOKEN_LIFETIME": timedelta(minutes=api.jwt_access_minutes),
            "REFRESH_TOKEN_LIFETIME": timedelta(days=api.jwt_refresh_days),
            "ROTATE_REFRESH_TOKENS": True,
            # A used refresh token must not work twice (needs the token_blacklist app, installed with accounts).
            "BLACKLIST_AFTER_ROTATION": True,
            "UPDATE_LAST_LOGIN": True,
        },
        "API_MAX_PAGE_SIZE": api.max_page_size,
        # The schema maps every endpoint for an attacker: public in production only when asked for.
        "API_DOCS_ENABLED": api.docs_enabled if api.docs_enabled is not None else not config.is_production,
    }
