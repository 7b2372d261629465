"""Person bootstrap intervals (pipeline.scores): how far a figure read on a few persons' photos
could move on other persons like them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.scores import (
    classification_scores,
    person_bootstrap_interval,
    person_resamples,
    weighted_macro_f1,
    weighted_share,
)


def test_each_resample_draws_as_many_persons_as_there_are() -> None:
    persons = np.array(["ann", "ann", "bo", "cy", "cy", "cy"])
    draws = person_resamples(persons, 500, seed=3)
    assert draws.shape == (500, 3)
    assert (draws.sum(axis=1) == 3).all()
    assert (draws == 0).any() and (draws >= 2).any()  # with replacement: some left out, some twice
    assert np.array_equal(draws, person_resamples(persons, 500, seed=3))


def test_the_interval_holds_the_figure_and_narrows_with_more_persons() -> None:
    rng = np.random.default_rng(0)

    def accuracy_interval(persons_count: int) -> tuple[float, tuple[float, float]]:
        right = rng.random(persons_count * 3) < 0.7
        persons = np.repeat(np.arange(persons_count), 3)
        return float(right.mean()), person_bootstrap_interval(
            lambda w: float(np.average(right, weights=w)), persons, draws=1000)

    figure, (low, high) = accuracy_interval(40)
    assert low < figure < high
    _, (wide_low, wide_high) = accuracy_interval(20)
    _, (narrow_low, narrow_high) = accuracy_interval(400)
    assert narrow_high - narrow_low < (wide_high - wide_low) / 2


def test_a_persons_photos_count_as_one_piece_of_evidence() -> None:
    """One prolific person read wrongly on all 60 photos, 60 others read rightly once each: as 120
    independent photos the accuracy would be pinned near 50%; drawn by person it may be anywhere
    from most to all of them, as a new set of persons might or might not include such a person."""
    right = np.r_[np.zeros(60, bool), np.ones(60, bool)]
    by_person = np.r_[np.zeros(60, int), np.arange(1, 61)]
    by_photo = np.arange(120)

    def accuracy(weights: np.ndarray) -> float:
        return float(np.average(right, weights=weights))

    person_low, person_high = person_bootstrap_interval(accuracy, by_person, draws=2000)
    photo_low, photo_high = person_bootstrap_interval(accuracy, by_photo, draws=2000)
    assert photo_high - photo_low < 0.2
    assert person_high == 1.0  # the resamples without that person read all right
    assert person_high - person_low > 2 * (photo_high - photo_low)


def test_undefined_resamples_are_skipped_and_a_certain_figure_has_no_spread() -> None:
    flagged = np.array([True, False, False, False])
    right = np.array([True, False, False, False])
    persons = np.array(["a", "b", "c", "d"])
    # precision is undefined in a resample without person a: those are left out, not counted as 0
    assert person_bootstrap_interval(lambda w: weighted_share(right, flagged, w), persons, draws=300) == (1.0, 1.0)
    assert np.isnan(weighted_share(right, np.zeros(4, bool), np.ones(4)))
    never = person_bootstrap_interval(lambda w: float("nan"), persons, draws=10)
    assert np.isnan(never[0]) and np.isnan(never[1])


def test_weighted_figures_with_unit_weights_are_the_plain_ones() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 7, 300)
    probabilities = rng.dirichlet(np.ones(7), 300)
    probabilities[np.arange(300), labels] += rng.random(300)  # better than chance
    predicted = probabilities.argmax(axis=1)
    plain = classification_scores(labels, probabilities)
    ones = np.ones(300)
    assert weighted_macro_f1(labels, predicted, ones) == pytest.approx(plain["macro_f1"], abs=1e-4)
    assert weighted_share(predicted == 6, labels == 6, ones) == pytest.approx(
        plain["per_class"]["neutral"]["recall"], abs=1e-4)
    # a photo drawn twice counts twice
    twice = ones.copy()
    twice[labels == 6] = 2.0
    assert weighted_share(predicted == 6, labels == 6, twice) == pytest.approx(
        plain["per_class"]["neutral"]["recall"], abs=1e-4)
    assert weighted_macro_f1(labels, predicted, twice) != pytest.approx(plain["macro_f1"], abs=1e-4)
