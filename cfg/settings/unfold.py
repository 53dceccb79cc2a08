from __future__ import annotations

from typing import Any

from cfg.models.core import DjangoConfig


def unfold_settings(config: DjangoConfig) -> dict[str, Any]:
    unfold = config.unfold
    title = unfold.site_title or config.project_name
    settings: dict[str, Any] = {
        "SITE_TITLE": title,
        "SITE_HEADER": unfold.site_header or config.project_name,
        "SITE_SYMBOL": unfold.site_symbol,
        "SITE_URL": "/",
        "ENVIRONMENT": "modules.unfold.callbacks.environment_badge",
        "SHOW_HISTORY": True,
        "SHOW_VIEW_ON_SITE": True,
        "SIDEBAR": {
            "show_search": True,
            "show_all_applications": unfold.show_all_applications,
            "navigation": [
                {
                    "title": section.title,
                    "collapsible": section.collapsible,
                    "items": [{"title": item.title, "icon": item.icon, "link": item.link} for item in section.items],
                }
                for section in unfold.navigation
            ],
        },
    }
    if unfold.primary_color:
        settings["COLORS"] = {"primary": dict(unfold.primary_color)}
    return {"UNFOLD": settings}
