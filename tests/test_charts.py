"""The page's charts: plain Vega-Lite specifications with the reading's own numbers."""

import json

from facemood import charts
from facemood.emotions import EMOTIONS
from facemood.i18n import ENGLISH, expression_names

PROBABILITIES = {"angry": 0.05, "disgust": 0.01, "fear": 0.1, "happy": 0.02, "sad": 0.62, "surprise": 0.0,
                 "neutral": 0.2}


def test_bars_show_every_emotion_in_fixed_order_with_its_percentage_and_colour():
    spec = charts.probability_bars(PROBABILITIES)
    values = charts.chart_data(spec)
    assert [v["expression"] for v in values] == [expression_names(ENGLISH)[e] for e in EMOTIONS]
    assert [v["percent"] for v in values] == [5.0, 1.0, 10.0, 2.0, 62.0, 0.0, 20.0]
    scale = spec["layer"][0]["layer"][0]["encoding"]["color"]["scale"]  # the bars inside the chart's one layer
    names = expression_names(ENGLISH)
    assert dict(zip(scale["domain"], scale["range"])) == {names[e]: charts.COLOURS[e] for e in EMOTIONS}
    assert charts.COLOURS["sad"] != "#ff0000" and len(set(charts.COLOURS.values())) == 7
    json.dumps(spec)  # sent to the browser as JSON


def test_timeline_places_each_check_in_at_its_time_and_emotion():
    day = 86_400
    spec = charts.timeline([(1_700_000_000, "sad", 0.71, True), (1_700_000_000 + day, "happy", 0.9, True)],
                           start=1_700_000_000 - 13 * day, end=1_700_000_000 + day)
    assert charts.chart_data(spec) == [
        {"time": "2023-11-14T22:13:20+00:00", "expression": "sad", "percent": 71, "count": 1, "label": ""},
        {"time": "2023-11-15T22:13:20+00:00", "expression": "happy", "percent": 90, "count": 1, "label": ""}]
    x = spec["layer"][0]["encoding"]["x"]
    assert x["scale"]["domain"] == ["2023-11-01T22:13:20+00:00", "2023-11-15T22:13:20+00:00"]
    json.dumps(spec)


def test_check_ins_a_dot_apart_share_one_marker_that_says_how_many():
    # On the journal's 14-day axis two check-ins of one expression an hour apart were one dot
    # while the heading counted both; now they are one marker labelled x2, drawn at their mean
    day, hour, now = 86_400, 3_600, 1_700_000_000
    spec = charts.timeline([(now - 2 * hour, "happy", 0.8, True), (now - hour, "happy", 0.6, True),
                            (now - hour, "sad", 0.7, True), (now - 3 * day, "happy", 0.9, True)],
                           start=now - 14 * day, end=now)
    markers = charts.chart_data(spec)
    assert [(m["expression"], m["count"], m["label"], m["percent"]) for m in markers] == [
        ("happy", 1, "", 90), ("happy", 2, "×2", 70), ("sad", 1, "", 70)]
    assert markers[1]["time"] == "2023-11-14T20:43:20+00:00"  # between the two, an hour and a half ago
    assert sum(m["count"] for m in markers) == 4  # as many as the heading counts
    text = spec["layer"][1]
    assert text["mark"]["type"] == "text" and text["encoding"]["text"]["field"] == "label"
    # within a session's short axis, check-ins minutes apart are markers of their own
    session = charts.timeline([(now, "happy", 0.8, True), (now + 120, "happy", 0.7, True)])
    assert [m["count"] for m in charts.chart_data(session)] == [1, 1]
    json.dumps(spec)


def test_one_session_check_in_gets_real_clock_times_and_an_unclear_one_its_own_row():
    spec = charts.timeline([(1_700_000_000, "happy", 0.41, False)])
    assert charts.chart_data(spec) == [{"time": "2023-11-14T22:13:20+00:00", "expression": "hard to read",
                                       "percent": 41, "count": 1, "label": ""}]
    x = spec["layer"][0]["encoding"]["x"]
    # a real span around the one check-in (no zero-width scale, no ".071" labels), clock-time labels
    assert x["scale"]["domain"] == ["2023-11-14T22:08:20+00:00", "2023-11-14T22:18:20+00:00"]
    assert x["axis"]["format"] == "%H:%M" and x["scale"]["nice"] is False
    assert spec["layer"][0]["encoding"]["y"]["sort"][-1] == "hard to read"
