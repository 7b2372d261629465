"""The distress threshold a bundle carries: how the pipeline chooses it, how the manifest holds
it, and how the check-in and the app's configuration use it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facemood.bundle import Bundle
from facemood.checkin import read_faces
from facemood.distress import DistressPolicy, DistressRule, percent, read_distress_rule
from facemood.emotions import EMOTIONS
from facemood.errors import BundleIntegrityError
from facemood.faces import Face
from pipeline.distress_choice import choose_distress_rule, flag_counts
from pipeline.settings import DistressRuleSettings
from tests.graphs import FixedGraph

SAD, HAPPY, NEUTRAL = EMOTIONS.index("sad"), EMOTIONS.index("happy"), EMOTIONS.index("neutral")
ANGRY, FEAR, SURPRISE = EMOTIONS.index("angry"), EMOTIONS.index("fear"), EMOTIONS.index("surprise")
SETTINGS = DistressRuleSettings(emotions=("sad", "fear", "angry"), combines=("sum",), target_precision=0.7,
                                     target_recall=0.55,
                                     candidates=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), bootstrap_draws=500,
                                     fold_repeats=1, seed=0)


def photos_with_scores(distressed: list[float], calm: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities whose sad share is each score (the rest neutral), labels sad for
    ``distressed`` and neutral for ``calm``, one person per photo."""
    scores = np.array(distressed + calm)
    probabilities = np.zeros((len(scores), len(EMOTIONS)))
    probabilities[:, SAD], probabilities[:, NEUTRAL] = scores, 1.0 - scores
    labels = np.array([SAD] * len(distressed) + [NEUTRAL] * len(calm))
    return probabilities, labels, np.array([f"person{i}" for i in range(len(scores))])


def test_the_threshold_that_meets_both_targets_most_robustly_is_chosen():
    # distressed faces score 0.45-0.95, calm ones 0.05-0.75: low thresholds flag too many calm
    # faces (precision), high ones too few distressed ones (recall)
    rng = np.random.default_rng(1)
    probabilities, labels, persons = photos_with_scores(list(rng.uniform(0.45, 0.95, 60)),
                                                        list(rng.uniform(0.05, 0.75, 120)))
    choice = choose_distress_rule([probabilities], labels, persons, SETTINGS)
    at = {t: (p, r, c) for t, p, r, c in zip(choice.candidates, choice.precision, choice.recall, choice.chance)}
    assert at[0.3][0] < 0.7 and at[0.9][1] < 0.55  # the ends miss one target each
    assert choice.threshold == 0.7  # inside the band where both hold, with the widest margins
    precision, recall, chance = at[0.7]
    assert precision >= 0.7 and recall >= 0.55 and chance == max(choice.chance) > 0.5
    assert choice.photos == 180 and choice.distress_photos == 60 and choice.persons == 180


def test_several_readings_of_the_same_photos_are_judged_together():
    rng = np.random.default_rng(4)
    distressed, calm = list(rng.uniform(0.45, 0.95, 60)), list(rng.uniform(0.05, 0.75, 120))
    lower, labels, persons = photos_with_scores(distressed, calm)
    higher, _, _ = photos_with_scores([min(v + 0.12, 1.0) for v in distressed], [v + 0.12 for v in calm])
    one = choose_distress_rule([lower], labels, persons, SETTINGS)
    other = choose_distress_rule([higher], labels, persons, SETTINGS)
    both = choose_distress_rule([lower, higher], labels, persons, SETTINGS)
    assert one.threshold < other.threshold  # each reading alone would choose its own
    mean = (np.array(one.chance) + np.array(other.chance)) / 2
    assert np.allclose(both.chance, mean) and both.readings == 2
    assert both.threshold == max(t for t, c in zip(SETTINGS.candidates, mean) if c == mean.max())
    assert np.allclose(both.recall, (np.array(one.recall) + np.array(other.recall)) / 2)


def test_a_tie_goes_to_the_higher_threshold_and_fewer_false_alarms():
    probabilities, labels, persons = photos_with_scores([0.95] * 20, [0.1] * 20)  # every candidate is perfect
    choice = choose_distress_rule([probabilities], labels, persons, SETTINGS)
    assert set(choice.chance) == {1.0} and choice.threshold == 0.9


def test_when_no_threshold_can_meet_the_targets_none_is_chosen_and_the_app_falls_back():
    rng = np.random.default_rng(2)
    scores = list(rng.uniform(0, 1, 200))  # scores that say nothing of the label
    probabilities, labels, persons = photos_with_scores(scores[:40], scores[40:])
    choice = choose_distress_rule([probabilities], labels, persons, SETTINGS)
    assert choice.threshold is None
    entry = choice.manifest_entry(SETTINGS)
    assert entry["threshold"] is None and len(entry["candidates"]) == len(SETTINGS.candidates)
    assert read_distress_rule({"distress_threshold": entry}) is None
    app = DistressPolicy(("sad", "fear", "angry"), "sum", None, 0.8)
    assert app.rule_for(read_distress_rule({"distress_threshold": entry})).threshold == 0.8


def test_no_distressed_photo_chooses_nothing():
    probabilities, labels, persons = photos_with_scores([], [0.2, 0.4])
    assert choose_distress_rule([probabilities], labels, persons, SETTINGS) is None


def test_a_persons_photos_are_counted_together():
    scores = np.array([0.9, 0.9, 0.2, 0.6])
    right, flags, truly = flag_counts(scores, np.array([True, False, True, True]), np.array(["b", "b", "a", "a"]),
                                      np.array([0.5, 0.8]))
    assert right.tolist() == [[1, 0], [1, 1]]  # person a (sorted first): one right flag at 0.5
    assert flags.tolist() == [[1, 0], [2, 2]] and truly.ravel().tolist() == [2, 1]


def test_resampling_persons_makes_a_few_persons_photos_count_less_than_their_number():
    # one person with many photos carries the precision: resampling persons exposes it
    probabilities, labels, persons = photos_with_scores([0.85] * 30 + [0.6] * 10, [0.65] * 12)
    persons[:30] = "prolific"
    whole = choose_distress_rule([probabilities], labels, persons, SETTINGS)
    apart = choose_distress_rule([probabilities], labels, np.array([f"p{i}" for i in range(len(labels))]),
                                      SETTINGS)
    at_08 = SETTINGS.candidates.index(0.8)
    assert whole.precision == apart.precision  # the same photos ...
    assert whole.chance[at_08] < apart.chance[at_08]  # ... but one person is less evidence than thirty


def test_the_manifest_entry_round_trips_and_a_broken_one_is_named():
    rng = np.random.default_rng(1)
    probabilities, labels, persons = photos_with_scores(list(rng.uniform(0.45, 0.95, 60)),
                                                        list(rng.uniform(0.05, 0.75, 120)))
    entry = choose_distress_rule([probabilities], labels, persons, SETTINGS).manifest_entry(SETTINGS)
    assert read_distress_rule({"distress_threshold": entry}) == DistressRule(("sad", "fear", "angry"), 0.7,
                                                                                      "sum")
    assert read_distress_rule({}) is None
    # a bundle published before the combination was recorded was chosen for the sum
    assert read_distress_rule({"distress_threshold": {"emotions": ["sad"], "threshold": 0.7}}).combine == "sum"
    for broken in ({"emotions": ["sad"], "threshold": 1.7}, {"emotions": ["grief"], "threshold": 0.5},
                   {"threshold": 0.5}, {"emotions": ["sad"], "threshold": 0.5, "combine": "mean"}):
        with pytest.raises(BundleIntegrityError, match="distress_threshold is not valid"):
            read_distress_rule({"distress_threshold": broken})


@pytest.mark.parametrize(("configured", "model", "expected"), [
    (None, DistressRule(("angry", "sad", "fear"), 0.65, "max"), (0.65, "max")),  # the model's own rule,
    #                                                                                  emotions in any order
    (0.9, DistressRule(("sad", "fear", "angry"), 0.65, "max"), (0.9, "sum")),  # a configured number overrides it
    (None, DistressRule(("sad",), 0.65, "max"), (0.8, "sum")),  # chosen for other emotions: the fallback
    (None, None, (0.8, "sum")),  # a model without one: the fallback
])
def test_the_app_uses_the_models_rule_unless_a_threshold_is_configured(configured, model, expected):
    rule = DistressPolicy(("sad", "fear", "angry"), "sum", configured, 0.8).rule_for(model)
    assert (rule.threshold, rule.combine) == expected and rule.emotions == ("sad", "fear", "angry")


@pytest.mark.parametrize(("probabilities", "combine", "expected"), [
    ({"angry": 0.35, "fear": 0.35, "surprise": 0.3}, "sum", True),  # "maybe angry, maybe fearful": together 0.7
    ({"angry": 0.35, "fear": 0.35, "surprise": 0.3}, "max", False),  # neither alone is likely enough
    ({"sad": 0.6, "neutral": 0.4}, "max", True),
    ({"sad": 0.3, "happy": 0.45, "neutral": 0.25}, "sum", False),
])
def test_the_score_sums_the_distress_expressions_or_takes_the_likeliest(probabilities, combine, expected):
    row = np.array([[probabilities.get(name, 0.0) for name in EMOTIONS]])
    rule = DistressRule(("sad", "fear", "angry"), 0.5 if combine == "max" else 0.7, combine)
    assert rule.flags(row).tolist() == [expected]


@pytest.mark.parametrize(("angry", "sad", "combine", "threshold"), [
    (0.545, 0.19, "max", 0.55),  # shown "angry 55%": the page and the flag read the same number
    (0.345, 0.204, "sum", 0.55),  # shown 35% + 20%: together 55%
])
def test_the_flag_reads_the_percentages_the_page_shows(angry, sad, combine, threshold):
    row = np.zeros((1, len(EMOTIONS)))
    row[0, ANGRY], row[0, SAD] = angry, sad
    row[0, NEUTRAL] = 1 - angry - sad
    assert percent(angry) + (percent(sad) if combine == "sum" else 0) == round(100 * threshold)
    assert DistressRule(("sad", "fear", "angry"), threshold, combine).flags(row).tolist() == [True]
    row[0, ANGRY] -= 0.01  # shown a point lower: under the threshold
    row[0, NEUTRAL] += 0.01
    assert DistressRule(("sad", "fear", "angry"), threshold, combine).flags(row).tolist() == [False]


def surprised_mixed_photos(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distressed faces read as one distress expression; surprised ones read as angry and fearful
    at once (as real photos are): the sum flags both, the likeliest alone only the first."""
    distressed = rng.uniform(0.5, 0.95, 60)
    mixed = rng.uniform(0.55, 0.9, 50)  # angry + fear together
    calm = rng.uniform(0.0, 0.4, 70)
    probabilities = np.zeros((180, len(EMOTIONS)))
    probabilities[:60, SAD], probabilities[:60, NEUTRAL] = distressed, 1 - distressed
    probabilities[60:110, ANGRY] = probabilities[60:110, FEAR] = mixed / 2
    probabilities[60:110, SURPRISE] = 1 - mixed
    probabilities[110:, SAD], probabilities[110:, NEUTRAL] = calm, 1 - calm
    labels = np.array([SAD] * 60 + [SURPRISE] * 50 + [NEUTRAL] * 70)
    return probabilities, labels, np.array([f"person{i}" for i in range(180)])


def test_the_combination_that_separates_better_is_chosen_with_its_threshold():
    probabilities, labels, persons = surprised_mixed_photos(np.random.default_rng(3))
    alone = choose_distress_rule([probabilities], labels, persons, SETTINGS)  # the sum only
    assert alone.threshold is None or max(alone.chance) < 0.05  # the surprised faces sink its precision
    both = replace(SETTINGS, combines=("sum", "max"))
    choice = choose_distress_rule([probabilities], labels, persons, both)
    assert choice.rule.combine == "max" and choice.threshold in (0.5, 0.6) and max(choice.chance) > 0.9
    entry = choice.manifest_entry(both)
    assert len(entry["candidates"]) == 2 * len(SETTINGS.candidates)
    assert {c["combine"] for c in entry["candidates"]} == {"sum", "max"}
    assert read_distress_rule({"distress_threshold": entry}) == choice.rule


def test_a_check_in_flags_distress_at_the_threshold_the_bundle_carries():
    graph = FixedGraph([0.3, 0.0, 0.1, 0.05, 0.3, 0.05, 0.2])  # sad + fear + angry: 0.7
    face = Face(box=(0, 0, 48, 48), score=0.99, crop=np.zeros((48, 48), np.uint8))
    app = DistressPolicy(("sad", "fear", "angry"), "sum", None, 0.8)
    assert not read_faces([face], Bundle("m", None, graph), app)[0].flagged  # the fallback, 0.8
    own = DistressRule(("sad", "fear", "angry"), 0.65)
    carrying = Bundle("m", None, graph, distress_rule=own)
    assert read_faces([face], carrying, app)[0].flagged  # this model's own, 0.65
    assert not read_faces([face], carrying, replace(app, threshold=0.75))[0].flagged  # the configured one
    # the same reading under a model whose rule takes the likeliest distress expression alone
    likeliest = DistressRule(("sad", "fear", "angry"), 0.35, "max")
    by_likeliest = Bundle("m", None, graph, distress_rule=likeliest)
    assert not read_faces([face], by_likeliest, app)[0].flagged  # angry 0.3 alone is under 0.35
    assert read_faces([face], by_likeliest, replace(app, threshold=0.7))[0].flagged  # configured: the app's sum
