"""The admin index as a dashboard of the cards that the enabled apps and the modules list in AppSpec.dashboard.

cfg collects those dotted paths, in catalog order, into the DASHBOARD_PANELS setting; `dashboard_callback` (Unfold's
DASHBOARD_CALLBACK) calls each with the request and templates/admin/index.html lays the cards out: figures, then
charts, then links. An app adds cards by naming a function in its spec, never by editing this module or a template.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

Area = Literal["figures", "charts", "links"]
AREAS: tuple[Area, ...] = ("figures", "charts", "links")
SHORTCUTS = "shortcuts"
INDEX_AXIS = "index"
"""The hidden x axis of a chart's data (Chart.options)"""


@dataclass(frozen=True)
class Stat:
    """One figure. `key` names it in the page (data-metric="<key>"), for tests and for people reading the HTML."""

    key: str
    title: str
    value: int | str
    note: str = ""
    link: str = ""
    alert: bool = False
    """Shown in red: the figure asks for attention (failures, say)"""

    area: ClassVar[Area] = "figures"
    template: ClassVar[str] = "unfold_module/cards/stat.html"


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[int | float]
    colour: str = "var(--color-primary-600)"
    """A CSS colour, or var(--color-...) of Unfold's theme"""


@dataclass(frozen=True)
class Chart:
    """A line or bar chart, drawn by Unfold's Chart.js from JSON in a data attribute (no inline script)."""

    key: str
    title: str
    labels: Sequence[str]
    series: Sequence[Series]
    kind: Literal["line", "bar"] = "line"
    note: str = ""
    link: str = ""
    link_title: str = "Details"
    max_x_ticks: int = 8
    stacked: bool = False
    """The series stacked (bars: each value its own part of the bar), not drawn over each other"""

    area: ClassVar[Area] = "charts"
    template: ClassVar[str] = "unfold_module/cards/chart.html"

    @property
    def data(self) -> str:
        datasets = [
            {
                "label": series.label,
                "data": list(series.values),
                "borderColor": series.colour,
                "backgroundColor": series.colour,
                "maxTicksXLimit": self.max_x_ticks,
                "displayYAxis": True,
                "xAxisID": INDEX_AXIS,
            }
            for series in self.series
        ]
        return json.dumps({"labels": list(self.labels), "datasets": datasets})

    @property
    def options(self) -> str:
        """Chart.js options (Unfold's component takes them in place of its own, which they follow): counts from 0 in
        whole steps, and the latest label always on the axis.

        Chart.js thins out the labels of a crowded axis from the first one, so that the last (today, this minute) is
        often left without one. The axis shown ("x") is therefore a copy of the labels in reverse order drawn from
        right to left, which keeps the newest; the data are on a hidden axis in their own order.
        """
        muted = "#9ca3af"
        options: dict[str, Any] = {
            "animation": False,
            "responsive": True,
            "maintainAspectRatio": False,
            "interaction": {"mode": "index", "intersect": False},
            # Room for the newest label, centred under the last point (Chart.js would clip half of it).
            "layout": {"padding": {"right": 24}},
            "datasets": {
                "bar": {"borderRadius": 2, "barPercentage": 0.9, "categoryPercentage": 0.9, "maxBarThickness": 12},
                "line": {"borderWidth": 2, "pointBorderWidth": 0, "pointRadius": 0, "pointHitRadius": 8},
            },
            "plugins": {
                "legend": {
                    "display": len(self.series) > 1,
                    "align": "end",
                    "position": "top",
                    "labels": {
                        "boxHeight": 5,
                        "boxWidth": 5,
                        "color": muted,
                        "pointStyle": "circle",
                        "usePointStyle": True,
                    },
                },
                "tooltip": {"enabled": True},
            },
            "scales": {
                # Offset (half a step at either end): the newest label, under the last point, fits in the card.
                INDEX_AXIS: {
                    "type": "category",
                    "axis": "x",
                    "display": False,
                    "offset": True,
                    "stacked": self.stacked,
                },
                "x": {
                    "type": "category",
                    "labels": list(reversed(self.labels)),
                    "reverse": True,
                    "offset": True,
                    "border": {"display": False},
                    "grid": {"display": False},
                    "ticks": {"color": muted, "maxTicksLimit": self.max_x_ticks, "maxRotation": 0},
                },
                "y": {
                    "beginAtZero": True,
                    "stacked": self.stacked,
                    "border": {"display": False},
                    "grid": {"tickWidth": 0},
                    "ticks": {"color": muted, "precision": 0},
                },
            },
        }
        return json.dumps(options)


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    icon: str = "arrow_forward"
    description: str = ""


@dataclass(frozen=True)
class Links:
    """A list of links. Cards with the same key are shown as one: apps add their links to "shortcuts"."""

    key: str
    title: str
    links: Sequence[Link]

    area: ClassVar[Area] = "links"
    template: ClassVar[str] = "unfold_module/cards/links.html"


Card = Stat | Chart | Links
CardsFunction = Callable[[HttpRequest], Sequence[Card]]


def cards_from(path: str, request: HttpRequest) -> Sequence[Card]:
    """One app's cards. A failing card function costs its own cards, not the admin's front page (it is logged)."""
    function: CardsFunction = import_string(path)
    try:
        return function(request)
    except Exception:
        if settings.DEBUG:
            raise
        logger.exception("the dashboard cards of %s failed", path)
        return [Stat(key=f"failed:{path}", title=path, value="—", note="Failed: see the logs", alert=True)]


def merged(cards: Sequence[Card]) -> list[Card]:
    """The cards in order, each Links card holding the links of every later one with its key."""
    result: list[Card] = []
    links: dict[str, int] = {}
    for card in cards:
        if isinstance(card, Links) and card.key in links:
            first = result[links[card.key]]
            assert isinstance(first, Links)
            result[links[card.key]] = replace(first, links=[*first.links, *card.links])
            continue
        if isinstance(card, Links):
            links[card.key] = len(result)
        result.append(card)
    return result


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """Unfold's DASHBOARD_CALLBACK: the cards of DASHBOARD_PANELS, by area, for templates/admin/index.html."""
    cards = merged([card for path in settings.DASHBOARD_PANELS for card in cards_from(path, request)])
    context["dashboard"] = {area: [card for card in cards if card.area == area] for area in AREAS}
    return context


def shortcut_cards(request: HttpRequest) -> list[Card]:
    """Links to the pages beside the admin's models: the API docs and the live settings."""
    links = []
    if settings.API_DOCS_ENABLED:
        links.append(Link(title="API docs", url=reverse("api-docs"), icon="api", description="Swagger UI"))
        links.append(Link(title="API reference", url=reverse("api-redoc"), icon="menu_book", description="Redoc"))
    if request.user.has_perm("constance.view_config") or request.user.has_perm("constance.change_config"):
        links.append(
            Link(
                title="Live settings",
                url=reverse("admin:constance_config_changelist"),
                icon="tune",
                description="Values that change without a deploy",
            )
        )
    links.append(Link(title="Readiness", url=reverse("readyz"), icon="monitor_heart", description="/readyz checks"))
    return [Links(key=SHORTCUTS, title="Shortcuts", links=links)]
