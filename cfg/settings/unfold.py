from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cfg.catalog import provided
from cfg.models.core import CoreConfig
from cfg.models.unfold import NavigationItem


def section(title: str, items: Iterable[NavigationItem], *, collapsible: bool) -> dict[str, Any]:
    return {
        "title": title,
        "collapsible": collapsible,
        "items": [{"title": item.title, "icon": item.icon, "link": item.link} for item in items],
    }


def unfold_settings(config: CoreConfig) -> dict[str, Any]:
    unfold = config.unfold
    title = unfold.site_title or config.project_name
    settings: dict[str, Any] = {
        "SITE_TITLE": title,
        "SITE_HEADER": unfold.site_header or config.project_name,
        "SITE_SYMBOL": unfold.site_symbol,
        "SITE_URL": "/",
        "ENVIRONMENT": provided("environment_callback"),
        "SHOW_HISTORY": True,
        "SHOW_VIEW_ON_SITE": True,
        "SIDEBAR": {
            "show_search": True,
            "show_all_applications": unfold.show_all_applications,
            # The enabled apps' own entries (the catalog, project_apps), then the configured sections.
            "navigation": [
                section(spec.label, spec.navigation, collapsible=True)
                for spec in config.enabled_app_specs()
                if spec.navigation
            ]
            + [section(extra.title, extra.items, collapsible=extra.collapsible) for extra in unfold.navigation],
        },
    }
    if unfold.primary_color:
        settings["COLORS"] = {"primary": dict(unfold.primary_color)}
    return {"UNFOLD": settings}
