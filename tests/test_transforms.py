"""Vectorised random transforms of (n,48,48) uint8 batches."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facemood import transforms
from facemood.augment import load_augment_settings
from facemood.config import CONFIG_DIR, ConfigError

DEFAULT = load_augment_settings().transforms

RNG = np.random.default_rng(1)
FACES = RNG.integers(30, 226, size=(16, 48, 48), dtype=np.uint8)


def test_flip_twice_is_identity_and_flip_mirrors():
    flipped = transforms.hflip(FACES)
    np.testing.assert_array_equal(flipped[:, :, 0], FACES[:, :, -1])
    np.testing.assert_array_equal(transforms.hflip(flipped), FACES)


def test_identity_warp_leaves_faces_unchanged():
    n = len(FACES)
    out = transforms.affine_warp(FACES, np.zeros(n), np.ones(n, np.float32), np.zeros(n), np.zeros(n))
    np.testing.assert_array_equal(out, FACES)


def test_warp_with_flip_only_equals_hflip():
    n = len(FACES)
    out = transforms.affine_warp(FACES, np.zeros(n), np.ones(n, np.float32), np.zeros(n), np.zeros(n),
                              np.ones(n, bool))
    np.testing.assert_array_equal(out, transforms.hflip(FACES))


def test_rotation_by_90_degrees_turns_the_face_a_quarter():
    n = len(FACES)
    out = transforms.affine_warp(FACES, np.full(n, 90.0), np.ones(n, np.float32), np.zeros(n), np.zeros(n))
    quarter = np.rot90(FACES, k=-1, axes=(1, 2))  # positive angles turn clockwise on screen (y down)
    assert (np.abs(out.astype(int) - quarter.astype(int)) <= 1).mean() > 0.99


@pytest.mark.parametrize("angle", [-15.0, 15.0, 45.0])
def test_rotation_keeps_shape_dtype_and_leaves_no_black_corners(angle):
    n = len(FACES)
    out = transforms.affine_warp(FACES, np.full(n, angle), np.ones(n, np.float32), np.zeros(n), np.zeros(n))
    assert out.shape == FACES.shape and out.dtype == np.uint8
    # every face's pixels are >= 30, so a zero anywhere would be a black (unfilled) corner
    assert out.min() >= 30
    for corner in (out[:, 0, 0], out[:, 0, -1], out[:, -1, 0], out[:, -1, -1]):
        assert (corner >= 30).all()


def test_shift_moves_content_and_replicates_edges():
    face = np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))[None]  # brightness grows to the right
    out = transforms.affine_warp(face, np.zeros(1), np.ones(1, np.float32), np.array([4.0]), np.zeros(1))
    np.testing.assert_array_equal(out[0, :, 10], face[0, :, 6])  # moved right by 4 pixels
    assert (out[0, :, :4] == face[0, 0, 0]).all()  # edge replicated, not black


def test_brightness_and_contrast_clip_to_uint8():
    out = transforms.adjust_brightness_contrast(FACES, np.full(len(FACES), 200.0, np.float32),
                                             np.full(len(FACES), 1.2, np.float32))
    assert out.dtype == np.uint8 and out.max() == 255


def test_copies_are_deterministic_for_a_seed_and_differ_across_seeds():
    settings = DEFAULT
    first = transforms.augmented_copies(FACES, settings, batch_seed=3)
    second = transforms.augmented_copies(FACES, settings, batch_seed=3)
    other = transforms.augmented_copies(FACES, replace(DEFAULT, seed=99), batch_seed=3)
    assert len(first) == 3
    for a, b, c in zip(first, second, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        assert a.shape == FACES.shape and a.dtype == np.uint8
    assert not np.array_equal(first[0], first[1])


def test_settings_reject_bad_values():
    with pytest.raises(ValueError):
        replace(DEFAULT, copies=-1)
    with pytest.raises(ValueError):
        replace(DEFAULT, scale_min=1.2, scale_max=1.1)


def test_settings_load_from_config_and_reject_unknown_keys(tmp_path):
    assert DEFAULT.copies == 3
    path = tmp_path / "augment.yaml"
    path.write_text(f"extends: {CONFIG_DIR / 'augment.yaml'}\ntransforms:\n  copies: 2\n  rotaton_deg: 5\n")
    with pytest.raises(ConfigError, match="unknown config key transforms.rotaton_deg"):
        load_augment_settings(path)
