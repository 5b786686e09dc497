"""The Motion bundle: round trip, version checks, bad input, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from core import skeleton as sk
from core.motion import FORMAT_VERSION, Camera, Motion, MotionFormatError, Surface


def _motion(t: int = 5, **kw) -> Motion:
    rng = np.random.default_rng(1)
    q = np.zeros((t, 46))
    q[:, sk.DOF["knee_angle_r"]] = np.linspace(0, 1.2, t)
    args = dict(
        fps=30.0,
        q_rad=q,
        root_m=rng.normal(size=(t, 3)),
        offsets_m=sk.default_offsets(),
        height_m=1.75,
        mass_kg=70.0,
        marker_names=("RASI", "LASI"),
        marker_bodies=np.array([0, 0]),
        marker_local_m=np.array([[0.05, 0.05, 0.12], [0.05, 0.05, -0.12]]),
        markers_m=rng.normal(size=(t, 2, 3)),
        confidence=np.ones(t),
        shape=np.full(6, 0.5),
        shape_labels=("gender", "age", "muscle", "weight", "height", "proportions"),
        keypoints_2d=rng.uniform(size=(t, 1, 3)),
        keypoint_names=("nose",),
        camera=Camera(1000.0, 640.0, 360.0, 1280, 720, focal_source="user"),
        surface=Surface(
            rng.normal(size=(4, 3)),
            np.array([[0, 1, 2], [1, 2, 3]]),
            np.zeros((4, 2), int),
            np.tile([1.0, 0.0], (4, 1)),
        ),
        provenance={"ik": "core.ik test"},
    )
    args.update(kw)
    return Motion(**args)


def test_round_trip_keeps_every_field(tmp_path) -> None:
    m = _motion()
    path = m.save(tmp_path / "clip.motion.npz")
    back = Motion.load(path)
    for name in (
        "q_rad",
        "root_m",
        "offsets_m",
        "markers_m",
        "confidence",
        "keypoints_2d",
        "shape",
    ):
        np.testing.assert_allclose(getattr(back, name), getattr(m, name))
    assert back.marker_names == m.marker_names and back.provenance == m.provenance
    assert back.camera.focal_px == 1000.0 and back.camera.focal_source == "user"
    np.testing.assert_allclose(back.surface.vertices_m, m.surface.vertices_m, atol=1e-6)
    assert back.fps == 30.0 and back.n_frames == 5


def test_newer_version_and_foreign_files_are_rejected(tmp_path) -> None:
    path = _motion().save(tmp_path / "a.motion.npz")
    data = dict(np.load(path))
    data["format_version"] = np.array(FORMAT_VERSION + 1)
    np.savez(tmp_path / "newer.motion.npz", **data)
    with pytest.raises(MotionFormatError, match="newer"):
        Motion.load(tmp_path / "newer.motion.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(MotionFormatError, match="not a biomocap"):
        Motion.load(tmp_path / "other.npz")
    (tmp_path / "text.motion.npz").write_text("hello")
    with pytest.raises(MotionFormatError, match="not a .motion.npz"):
        Motion.load(tmp_path / "text.motion.npz")
    with pytest.raises(FileNotFoundError):
        Motion.load(tmp_path / "missing.motion.npz")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(q_rad=np.zeros((5, 45))), r"q_rad of shape"),
        (dict(root_m=np.zeros((4, 3))), r"root_m of shape \(5, 3\)"),
        (dict(fps=0.0), "fps"),
        (dict(height_m=4.0), "height_m"),
        (dict(markers_m=np.zeros((5, 3, 3))), "markers_m"),
        (dict(dof_names=("knee",) + sk.DOF_NAMES[1:]), "unknown DOF name"),
    ],
)
def test_bad_fields_name_what_is_wrong(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        _motion(**change)


def test_out_of_limit_angles_are_refused() -> None:
    q = np.zeros((2, 46))
    q[0, sk.DOF["elbow_flexion_l"]] = -0.5
    with pytest.raises(ValueError, match="elbow_flexion_l"):
        _motion(
            t=2,
            q_rad=q,
            root_m=np.zeros((2, 3)),
            markers_m=None,
            confidence=None,
            keypoints_2d=None,
        )


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch) -> None:
    path = _motion().save(tmp_path / "keep.motion.npz")
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError):
        _motion(
            t=7, root_m=np.zeros((7, 3)), markers_m=None, confidence=None, keypoints_2d=None
        ).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.motion.npz"]
