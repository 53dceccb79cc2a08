from __future__ import annotations

from pydantic import Field, field_validator

from cfg.models.base import ConfigModel

SHADES = ("50", "100", "200", "300", "400", "500", "600", "700", "800", "900", "950")


class NavigationItem(ConfigModel):
    title: str
    link: str = Field(description="A URL path such as /admin/accounts/user/")
    icon: str = "chevron_right"


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
    """Extra sidebar sections (YAML: title, items of title/link/icon)"""
    show_all_applications: bool = True
    """Show the full application list in the sidebar"""

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
