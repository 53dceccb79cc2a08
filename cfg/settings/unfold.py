from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cfg.catalog import MODULES, provided
from cfg.models.apps import AppSpec
from cfg.models.core import CoreConfig
from cfg.models.unfold import NAVIGATION_GROUPS, NavigationItem

# The sidebar's order: the groups, with the sections of apps' ungrouped items ("") between security and operations.
SECTION_ORDER = ("people", "security", "", "operations", "settings")
DASHBOARD_ITEM = NavigationItem(title="Dashboard", link="/admin/", icon="dashboard")


def item_settings(item: NavigationItem) -> dict[str, Any]:
    entry = {"title": item.title, "icon": item.icon, "link": item.link}
    if item.permission:
        entry["permission"] = item.permission
    return entry


def section(title: str, items: Iterable[NavigationItem], *, collapsible: bool = False) -> dict[str, Any]:
    return {"title": title, "collapsible": collapsible, "items": [item_settings(item) for item in items]}


def grouped_sections(specs: Iterable[AppSpec]) -> list[dict[str, Any]]:
    """One section per group that has items, in SECTION_ORDER; an app's ungrouped items make a section of its own."""
    grouped: dict[str, list[NavigationItem]] = {group: [] for group in NAVIGATION_GROUPS}
    own: list[dict[str, Any]] = []
    for spec in specs:
        for item in spec.navigation:
            if item.group:
                grouped[item.group].append(item)
        ungrouped = [item for item in spec.navigation if not item.group]
        if ungrouped:
            own.append(section(spec.label, ungrouped))
    sections = [section("", [DASHBOARD_ITEM])]
    for group in SECTION_ORDER:
        if not group:
            sections.extend(own)
        elif grouped[group]:
            sections.append(section(NAVIGATION_GROUPS[group], grouped[group]))
    return sections


def unfold_settings(config: CoreConfig) -> dict[str, Any]:
    unfold = config.unfold
    title = unfold.site_title or config.project_name
    specs = [*config.enabled_app_specs(), *MODULES]
    settings: dict[str, Any] = {
        "SITE_TITLE": title,
        "SITE_HEADER": unfold.site_header or config.project_name,
        "SITE_SYMBOL": unfold.site_symbol,
        # modules.pages' home page: the target of "View site" and of the login page's "Return to site".
        "SITE_URL": "/",
        "ENVIRONMENT": provided("environment_callback"),
        "DASHBOARD_CALLBACK": provided("dashboard_callback"),
        "STYLES": [provided("admin_styles")],
        "SHOW_HISTORY": True,
        "SHOW_VIEW_ON_SITE": True,
        "SIDEBAR": {
            "show_search": True,
            "show_all_applications": unfold.show_all_applications,
            # The enabled apps' and the modules' entries by group (the catalog, project_apps), then the configured
            # sections.
            "navigation": grouped_sections(specs)
            + [section(extra.title, extra.items, collapsible=extra.collapsible) for extra in unfold.navigation],
        },
    }
    if unfold.primary_color:
        settings["COLORS"] = {"primary": dict(unfold.primary_color)}
    # The admin index's cards (modules.unfold.dashboard): the enabled apps', then the modules'.
    panels = [path for spec in specs for path in spec.dashboard]
    return {"UNFOLD": settings, "DASHBOARD_PANELS": panels}
