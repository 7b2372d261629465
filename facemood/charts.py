"""The page's charts as plain Vega-Lite specifications (dicts), with the data inline.

Streamlit draws a dict given to ``st.vega_lite_chart`` as it is. Building the same charts with
Altair validated each one against the Vega-Lite schema on every script run: a third of the app's
CPU per check-in (bench/load_bench.py), for specifications that never change shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from facemood.checkin import ADJECTIVES, percent
from facemood.emotions import EMOTIONS

# One fixed colour per emotion, calm for the hard ones (never alarming red for sad).
COLOURS = {"angry": "#c8744f", "disgust": "#8a8f3c", "fear": "#8c6bb1", "happy": "#e0b43c", "sad": "#4a7fb5",
           "surprise": "#3aa39a", "neutral": "#9a9a9a"}
_COLOUR_SCALE = {"domain": [ADJECTIVES[e] for e in EMOTIONS], "range": [COLOURS[e] for e in EMOTIONS]}


def probability_bars(probabilities: Mapping[str, float], height: int = 230) -> dict:
    """One face's seven probabilities as horizontal bars, in the emotions' fixed order and
    colours, each labelled with its percentage."""
    values = [{"expression": ADJECTIVES[e], "percent": percent(probabilities[e])} for e in EMOTIONS]
    encoding = {
        "y": {"field": "expression", "type": "nominal", "sort": None, "title": None, "axis": {"labelFontSize": 13}},
        # room past 100 for a label such as "98", which would be clipped at the chart's edge
        "x": {"field": "percent", "type": "quantitative", "title": "%", "scale": {"domain": [0, 112]},
              "axis": {"values": [0, 25, 50, 75, 100]}},
    }
    return {
        "data": {"values": values},
        "height": height,
        "encoding": encoding,
        "layer": [
            {"mark": "bar", "encoding": {"color": {"field": "expression", "type": "nominal", "scale": _COLOUR_SCALE,
                                                   "legend": None}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 13},
             "encoding": {"text": {"field": "percent", "type": "quantitative", "format": "d"}}},
        ],
    }


UNCLEAR = "hard to read"  # the timeline's row for a check-in whose reading did not stand out
_TIMELINE_SCALE = {"domain": _COLOUR_SCALE["domain"] + [UNCLEAR], "range": _COLOUR_SCALE["range"] + ["#b8b8b8"]}
EDGE_SECONDS = 300  # room before the first and after the last check-in of a session, so no dot is cut


def timeline(entries: Iterable[tuple[float, str, float, bool]], height: int = 160,
             start: float | None = None, end: float | None = None, time_format: str = "%H:%M") -> dict:
    """Check-ins on a time axis: one marker per ``(unix time, top emotion, its probability, clear)``,
    on the row and in the colour of its emotion (an unclear reading on the "hard to read" row).
    ``start``/``end`` (unix times) fix the axis; without them it spans the check-ins with a margin,
    so one check-in still has a real clock time on each side. Labels use ``time_format``."""
    entries = list(entries)
    values = [{"time": datetime.fromtimestamp(when, UTC).isoformat(),
               "expression": ADJECTIVES[top] if clear else UNCLEAR,
               "percent": percent(probability)} for when, top, probability, clear in entries]
    if start is None or end is None:
        times = [when for when, *_ in entries] or [datetime.now(UTC).timestamp()]
        start, end = min(times) - EDGE_SECONDS, max(times) + EDGE_SECONDS
    x_axis: dict = {"field": "time", "type": "temporal", "title": None,
                    "scale": {"domain": [datetime.fromtimestamp(t, UTC).isoformat() for t in (start, end)],
                              "nice": False},
                    "axis": {"format": time_format, "labelOverlap": True, "tickCount": 4}}
    return {
        "data": {"values": values},
        "height": height,
        "mark": {"type": "circle", "size": 160, "opacity": 0.9},
        "encoding": {
            "x": x_axis,
            "y": {"field": "expression", "type": "nominal", "title": None, "sort": _TIMELINE_SCALE["domain"]},
            "color": {"field": "expression", "type": "nominal", "scale": _TIMELINE_SCALE, "legend": None},
            "tooltip": [{"field": "time", "type": "temporal", "format": "%a %d %b %H:%M"},
                        {"field": "expression", "type": "nominal"},
                        {"field": "percent", "type": "quantitative", "title": "%"}],
        },
    }
