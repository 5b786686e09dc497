"""The detect stage's note on limbs MediaPipe barely sees (core.capture.detection)."""

from __future__ import annotations

import numpy as np

from core.capture.detection import HIDDEN_CONFIDENCE, HIDDEN_SHARE, hidden_limbs_note


def _conf(t: int = 100) -> np.ndarray:
    return np.full((t, 33), 0.95)


def test_a_well_seen_person_gets_no_note():
    assert hidden_limbs_note(_conf(), np.ones(100, bool)) is None


def test_a_far_arm_hidden_most_of_the_clip_is_named_with_its_share():
    conf = _conf()
    conf[:70, 16] = 0.1  # right wrist
    conf[80:, 14] = 0.2  # right elbow
    conf[:30, 27] = 0.05  # left ankle: hidden, but in under half of the frames
    note = hidden_limbs_note(conf, np.ones(100, bool))
    assert note is not None and "right arm in 90%" in note
    assert "left leg" not in note and "left arm" not in note and "right leg" not in note


def test_only_frames_with_the_person_count_and_the_threshold_is_inclusive():
    conf = _conf()
    found = np.ones(100, bool)
    found[:50] = False  # no person: MediaPipe's confidences there mean nothing
    conf[:50] = 0.0
    assert hidden_limbs_note(conf, found) is None
    n = int(round(HIDDEN_SHARE * 50))
    conf[50 : 50 + n, 25] = HIDDEN_CONFIDENCE - 0.01  # left knee
    note = hidden_limbs_note(conf, found)
    assert note is not None and f"left leg in {100 * n // 50}%" in note
    conf[50 : 50 + n, 25] = HIDDEN_CONFIDENCE  # at the threshold: seen
    assert hidden_limbs_note(conf, found) is None


def test_no_frame_with_a_person_and_missing_values():
    assert hidden_limbs_note(_conf(5), np.zeros(5, bool)) is None
    conf = _conf(10)
    conf[:, 13] = np.nan  # a missing confidence counts as unseen
    assert "left arm in 100%" in hidden_limbs_note(conf, np.ones(10, bool))
