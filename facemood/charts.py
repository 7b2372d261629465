"""The page's charts as plain Vega-Lite specifications (dicts), with the data inline.

Streamlit draws a dict given to ``st.vega_lite_chart`` as it is. Building the same charts with
Altair validated each one against the Vega-Lite schema on every script run: a third of the app's
CPU per check-in (bench/load_bench.py), for specifications that never change shape. Each chart's
data sits inside its layers (the first: :func:`chart_data`): Streamlit moves top-level data through
pandas and Arrow, a tenth of a check-in's CPU for a dozen values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from facemood.distress import percent
from facemood.emotions import EMOTIONS
from facemood.i18n import ENGLISH, Words, expression_names

# One fixed colour per emotion, calm for the hard ones (never alarming red for sad).
COLOURS = {"angry": "#c8744f", "disgust": "#8a8f3c", "fear": "#8c6bb1", "happy": "#e0b43c", "sad": "#4a7fb5",
           "surprise": "#3aa39a", "neutral": "#9a9a9a"}
UNCLEAR_COLOUR = "#b8b8b8"


def colour_scale(words: Words, unclear: bool = False) -> dict:
    """Each expression's name (in ``words``' language) and its colour, and the "hard to read" row's."""
    names = expression_names(words)
    domain, colours = [names[e] for e in EMOTIONS], [COLOURS[e] for e in EMOTIONS]
    if unclear:
        domain, colours = domain + [unclear_label(words)], colours + [UNCLEAR_COLOUR]
    return {"domain": domain, "range": colours}


def unclear_label(words: Words) -> str:
    """The timeline's row for a check-in whose reading did not stand out."""
    return words.gettext("hard to read")


def probability_bars(probabilities: Mapping[str, float], height: int = 230, words: Words = ENGLISH) -> dict:
    """One face's seven probabilities as horizontal bars, in the emotions' fixed order and
    colours, each labelled with its percentage; names in ``words``' language."""
    names = expression_names(words)
    values = [{"expression": names[e], "percent": percent(probabilities[e])} for e in EMOTIONS]
    encoding = {
        "y": {"field": "expression", "type": "nominal", "sort": None, "title": None, "axis": {"labelFontSize": 13}},
        # room past 100 for a label such as "98", which would be clipped at the chart's edge
        "x": {"field": "percent", "type": "quantitative", "title": "%", "scale": {"domain": [0, 112]},
              "axis": {"values": [0, 25, 50, 75, 100]}},
    }
    return _layered(height, {
        "data": {"values": values},
        "encoding": encoding,
        "layer": [
            {"mark": "bar", "encoding": {"color": {"field": "expression", "type": "nominal",
                                                   "scale": colour_scale(words), "legend": None}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 13},
             "encoding": {"text": {"field": "percent", "type": "quantitative", "format": "d"}}},
        ],
    })


EDGE_SECONDS = 300  # room before the first and after the last check-in of a session, so no dot is cut
# A marker is about a 28th of the axis on a phone: two of one expression closer than that would
# be drawn as one dot while the heading counts both, so they are one marker that says how many.
MARKERS_ACROSS = 28


def timeline(entries: Iterable[tuple[float, str, float, bool]], height: int = 160,
             start: float | None = None, end: float | None = None, time_format: str = "%H:%M",
             words: Words = ENGLISH) -> dict:
    """Check-ins on a time axis: a marker per ``(unix time, top emotion, its probability, clear)``,
    on the row and in the colour of its emotion (an unclear reading on the "hard to read" row).
    Check-ins on one row closer than a marker's width (:data:`MARKERS_ACROSS`) share one marker,
    at their mean time with their mean percentage, labelled with how many it stands for.
    ``start``/``end`` (unix times) fix the axis; without them it spans the check-ins with a margin,
    so one check-in still has a real clock time on each side. Labels use ``time_format``; names
    ``words``' language."""
    entries = list(entries)
    names, scale = expression_names(words), colour_scale(words, unclear=True)
    if start is None or end is None:
        times = [when for when, *_ in entries] or [datetime.now(UTC).timestamp()]
        start, end = min(times) - EDGE_SECONDS, max(times) + EDGE_SECONDS
    readings = [(when, names[top] if clear else unclear_label(words), probability)
                for when, top, probability, clear in entries]
    values = [{"time": datetime.fromtimestamp(when, UTC).isoformat(), "expression": expression,
               "percent": percent(probability), "count": count, "label": f"×{count}" if count > 1 else ""}
              for when, expression, probability, count in markers(readings, (end - start) / MARKERS_ACROSS)]
    x_axis: dict = {"field": "time", "type": "temporal", "title": None,
                    "scale": {"domain": [datetime.fromtimestamp(t, UTC).isoformat() for t in (start, end)],
                              "nice": False},
                    "axis": {"format": time_format, "labelOverlap": True, "tickCount": 4}}
    y_axis = {"field": "expression", "type": "nominal", "title": None, "sort": scale["domain"]}
    dots = {
        "data": {"values": values},
        "mark": {"type": "circle", "size": 160, "opacity": 0.9},
        "encoding": {
            "x": x_axis, "y": y_axis,
            "color": {"field": "expression", "type": "nominal", "scale": scale, "legend": None},
            "tooltip": [{"field": "time", "type": "temporal", "format": "%a %d %b %H:%M"},
                        {"field": "expression", "type": "nominal"},
                        {"field": "percent", "type": "quantitative", "title": "%"},
                        {"field": "count", "type": "quantitative", "title": "×"}],
        },
    }
    counts = {"data": {"values": values}, "mark": {"type": "text", "align": "left", "dx": 10, "fontSize": 12},
              "encoding": {"x": x_axis, "y": y_axis, "text": {"field": "label", "type": "nominal"}}}
    return {"height": height, "layer": [dots, counts]}


def markers(readings: Iterable[tuple[float, str, float]],
            within: float) -> list[tuple[float, str, float, int]]:
    """``(time, row, probability)`` readings as markers ``(time, row, probability, count)``: readings
    of one row less than ``within`` seconds after the first of their group share its marker, at
    their mean time and probability; in time order."""
    groups: list[list[tuple[float, str, float]]] = []
    open_groups: dict[str, list[tuple[float, str, float]]] = {}
    for reading in sorted(readings):
        group = open_groups.get(reading[1])
        if group is None or reading[0] - group[0][0] >= within:
            group = open_groups[reading[1]] = []
            groups.append(group)
        group.append(reading)
    return sorted((sum(r[0] for r in group) / len(group), group[0][1], sum(r[2] for r in group) / len(group),
                   len(group)) for group in groups)


def _layered(height: int, inner: dict) -> dict:
    """``inner`` (its data with it) as the one layer of a chart ``height`` pixels high."""
    return {"height": height, "layer": [inner]}


def chart_data(spec: dict) -> list[dict]:
    """The values a chart of this module draws."""
    return spec["layer"][0]["data"]["values"]
