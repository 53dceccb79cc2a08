"""Reading the admin's pages in tests: the dashboard's figures and charts, a form's inputs."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.metrics: dict[str, str] = {}
        self._metric: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.elements.append((tag, values))
        if "data-metric" in values:
            self._metric = values["data-metric"]
            self.metrics[self._metric] = ""

    def handle_data(self, data: str) -> None:
        if self._metric is not None:
            self.metrics[self._metric] += data

    def handle_endtag(self, tag: str) -> None:
        self._metric = None


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def dashboard_figures(html: str) -> dict[str, str]:
    """The figures of the dashboard's Stat cards, by key (data-metric)."""
    return {key: value.strip() for key, value in _parse(html).metrics.items()}


def dashboard_chart(html: str, key: str) -> dict[str, Any]:
    """The Chart.js data of the chart card `key`: {"labels": [...], "datasets": [{"label", "data", ...}]}."""
    elements = _parse(html).elements
    start = next(index for index, (_, attrs) in enumerate(elements) if attrs.get("data-chart") == key)
    canvas = next(attrs for tag, attrs in elements[start:] if tag == "canvas")
    data: dict[str, Any] = json.loads(canvas["data-value"])
    return data


def dashboard_chart_options(html: str, key: str) -> dict[str, Any]:
    """The Chart.js options of the chart card `key` (its canvas's data-options)."""
    elements = _parse(html).elements
    start = next(index for index, (_, attrs) in enumerate(elements) if attrs.get("data-chart") == key)
    canvas = next(attrs for tag, attrs in elements[start:] if tag == "canvas")
    options: dict[str, Any] = json.loads(canvas["data-options"])
    return options


def inputs(html: str, name: str) -> list[dict[str, str]]:
    """The attributes of each <input> named `name`."""
    return [attrs for tag, attrs in _parse(html).elements if tag == "input" and attrs.get("name") == name]


def links(html: str) -> list[str]:
    return [attrs["href"] for tag, attrs in _parse(html).elements if tag == "a" and "href" in attrs]
