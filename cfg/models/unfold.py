from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from cfg.models.base import ConfigModel

SHADES = ("50", "100", "200", "300", "400", "500", "600", "700", "800", "900", "950")

# The admin sidebar is organised by what a person does there, in this order; an item with no group goes into a
# section of its own app (its title), after security and before operations.
NAVIGATION_GROUPS: dict[str, str] = {
    "people": "People",
    "security": "Sign-in security",
    "operations": "Operations",
    "settings": "Settings",
}
NavigationGroup = Literal["", "people", "security", "operations", "settings"]
CALLABLE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


class NavigationItem(ConfigModel):
    title: str
    link: str = Field(description="A URL path such as /admin/accounts/user/")
    icon: str = "chevron_right"
    """Material Symbols name, e.g. receipt"""
    group: NavigationGroup = ""
    """Sidebar section: people, security, operations or settings; empty: a section named after its app"""
    permission: str = ""
    """Dotted path of a function (request) -> bool; the item shows only when it returns True"""

    @field_validator("group", mode="before")
    @classmethod
    def _known_group(cls, value: Any) -> Any:
        if isinstance(value, str) and value and value not in NAVIGATION_GROUPS:
            raise ValueError(
                f"{value!r} is not a navigation group; use one of {', '.join(NAVIGATION_GROUPS)}, "
                "or leave it empty for a section named after the app"
            )
        return value

    @field_validator("permission")
    @classmethod
    def _dotted_permission(cls, value: str) -> str:
        if value and not CALLABLE_PATH.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a dotted Python path; name the function, e.g. apps.billing.admin.can_see_invoices"
            )
        return value


class NavigationSection(ConfigModel):
    title: str
    items: tuple[NavigationItem, ...]
    collapsible: bool = False


class UnfoldConfig(ConfigModel):
    site_title: str = Field(default="", description="Defaults to the project name")
    site_header: str = Field(default="", description="Defaults to the project name")
    site_symbol: str = "hub"
    """Material Symbols icon name shown beside the title"""
    primary_color: dict[str, str] = Field(
        default_factory=dict, description="Shades 50..950 as CSS colours; empty keeps Unfold's violet"
    )
    navigation: tuple[NavigationSection, ...] = Field(default_factory=tuple)
    """Extra sidebar sections, after the apps' own (YAML: title, items of title/link/icon)"""
    show_all_applications: bool = False
    """Also offer Django's raw list of applications (library names included) in the sidebar"""

    @field_validator("primary_color")
    @classmethod
    def _all_shades(cls, colors: dict[str, str]) -> dict[str, str]:
        if colors and set(colors) != set(SHADES):
            missing = [shade for shade in SHADES if shade not in colors]
            extra = sorted(set(colors) - set(SHADES))
            wrong = ", ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                )
                if part
            )
            raise ValueError(
                f"shades do not match ({wrong}); give exactly the shades {', '.join(SHADES)}, "
                "e.g. '500': 'oklch(55.8% 0.288 302.321)', or leave it empty for Unfold's violet"
            )
        return colors
