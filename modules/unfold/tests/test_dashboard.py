"""The dashboard's charts: Chart.js options that Unfold's chart component passes on as they are."""

from __future__ import annotations

import json

from modules.unfold.dashboard import INDEX_AXIS, Chart, Series


def chart(**kwargs: object) -> Chart:
    defaults: dict[str, object] = {
        "key": "k",
        "title": "T",
        "labels": [f"May {day}" for day in range(1, 31)],
        "series": [Series(label="Sign-ins", values=[0] * 30)],
    }
    return Chart(**{**defaults, **kwargs})  # type: ignore[arg-type]


def test_the_y_axis_counts_from_zero_in_whole_steps():
    """With no data Chart.js would draw -1 to 1, and 0.1 steps for small counts."""
    y = json.loads(chart().options)["scales"]["y"]
    assert y["beginAtZero"] is True and y["ticks"]["precision"] == 0


def test_the_newest_label_is_the_first_of_the_axis_shown_so_chartjs_never_skips_it():
    """Chart.js thins a crowded axis out from its first label: the axis shown is the labels reversed, drawn right
    to left, while the data stay on a hidden axis in their order."""
    shown = chart()
    options, data = json.loads(shown.options), json.loads(shown.data)
    x = options["scales"]["x"]
    assert x["labels"][0] == "May 30" and x["labels"] == data["labels"][::-1] and x["reverse"] is True
    assert options["scales"][INDEX_AXIS]["display"] is False
    assert {dataset["xAxisID"] for dataset in data["datasets"]} == {INDEX_AXIS}


def test_stacked_series_and_a_legend_for_more_than_one():
    two = chart(
        kind="bar", stacked=True, series=[Series(label="A", values=[1] * 30), Series(label="B", values=[1] * 30)]
    )
    options = json.loads(two.options)
    assert options["scales"]["y"]["stacked"] and options["scales"][INDEX_AXIS]["stacked"]
    assert options["plugins"]["legend"]["display"] is True
    assert json.loads(chart().options)["plugins"]["legend"]["display"] is False
