"""Sign conventions: every coordinate shared with OpenCap's LaiUhlrich2022 (and Rajagopal2016 for
the wrist) moves the same body the same way in our exported .osim, driven in real OpenSim; old
(convention-1) angle data is converted where it is read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import skeleton as sk
from core.motion import Motion
from tests.conftest import shared_path

opensim = pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.opencap import COORDINATE_MAP  # noqa: E402
from biomech_export.osim_model import write_osim  # noqa: E402

# our body -> the body of theirs that the same coordinate moves
_THEIR_BODY = {"lumbar": "torso"}


class _Driver:
    """Set one coordinate of a model (all others at 0, unlocked) and read a body's rotation."""

    def __init__(self, path) -> None:
        self.model = opensim.Model(str(path))
        self.state = self.model.initSystem()
        self.coords = {c.getName(): c for c in self.model.getCoordinateSet()}
        self.bodies = {b.getName(): b for b in self.model.getBodySet()}

    def rotation(self, coord: str | None, deg: float, body: str) -> np.ndarray:
        for c in self.coords.values():
            if c.getMotionType() == 1:  # rotational
                c.setLocked(self.state, False)
                c.setValue(self.state, 0.0, False)
        if coord is not None:
            self.coords[coord].setValue(self.state, np.radians(deg), False)
        self.model.realizePosition(self.state)
        r = self.bodies[body].getTransformInGround(self.state).R()
        return np.array([[r.get(i, j) for j in range(3)] for i in range(3)])

    def motion(self, coord: str, body: str, deg: float = 10.0) -> np.ndarray:
        """Rotation vector (ground frame, rad) the body makes when coord goes 0 -> +deg."""
        from scipy.spatial.transform import Rotation

        r0 = self.rotation(None, 0.0, body)
        r1 = self.rotation(coord, deg, body)
        return Rotation.from_matrix(r1 @ r0.T).as_rotvec()


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    motion = Motion(
        fps=100.0,
        q_rad=np.zeros((1, sk.N_DOFS)),
        root_m=np.zeros((1, 3)),
        offsets_m=sk.default_offsets(1.75),
        height_m=1.75,
        mass_kg=75.0,
    )
    path = tmp_path_factory.mktemp("conv") / "ours.osim"
    write_osim(motion, path, geometry=False)
    return _Driver(path)


def _compare(ours: _Driver, theirs: _Driver, names: list[str]) -> dict[str, float]:
    """Angle (deg) between our and their body motion for +10 deg of each coordinate."""
    out = {}
    for their in names:
        our, sign = COORDINATE_MAP[their]
        body = sk.DOFS[sk.DOF[our]].body
        v_ours = sign * ours.motion(our, body)
        v_theirs = theirs.motion(their, _THEIR_BODY.get(body, body))
        # each coordinate really turns its body by 10 deg in both models
        assert np.degrees(np.linalg.norm(v_ours)) == pytest.approx(10.0, abs=0.01), our
        assert np.degrees(np.linalg.norm(v_theirs)) == pytest.approx(10.0, abs=1.5), (
            their
        )  # Walker knee: 10.6
        cos = v_ours @ v_theirs / (np.linalg.norm(v_ours) * np.linalg.norm(v_theirs))
        out[their] = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return out


def test_every_shared_coordinate_moves_like_laiuhlrich2022(ours):
    path = shared_path("opensim", "opencap", "core_pipeline", "LaiUhlrich2022.osim")
    theirs = _Driver(path)
    rotational = [
        n for n, c in theirs.coords.items() if c.getMotionType() == 1 and n in COORDINATE_MAP
    ]
    # all 33 of their coordinates but the 3 pelvis translations are compared
    assert len(rotational) == 30, sorted(rotational)
    ang = _compare(ours, theirs, rotational)
    print({k: round(v, 1) for k, v in ang.items()})
    # Same sign: the motions agree to within the models' axis differences (Walker knee ~15 deg,
    # elbow ~10 deg, pro_sup ~8 deg); an opposite sign would be > 150 deg.
    bad = {k: round(v, 1) for k, v in ang.items() if v > 20.0}
    assert not bad, f"coordinates that move the other way than LaiUhlrich2022: {bad}"
    for n in ("subtalar_angle_r", "subtalar_angle_l", "mtp_angle_r", "mtp_angle_l"):
        assert ang[n] < 1.0, (n, ang[n])  # the same axes, not just the same sign


def test_wrist_moves_like_rajagopal2016(ours):
    theirs = _Driver(shared_path("opensim", "rajagopal_walk_run", "Rajagopal2016.osim"))
    names = [f"wrist_{k}_{s}" for k in ("flex", "dev") for s in "rl"]
    ang = _compare(ours, theirs, names + ["subtalar_angle_r", "mtp_angle_l"])
    print({k: round(v, 1) for k, v in ang.items()})
    bad = {k: round(v, 1) for k, v in ang.items() if v > 20.0}
    assert not bad, f"coordinates that move the other way than Rajagopal2016: {bad}"


def test_subtalar_inverts_and_mtp_flexes(ours):
    """Anatomy, independent of any reference model: +10 deg subtalar lowers the lateral edge of
    the foot (inversion); +10 deg mtp turns the toes' forward axis downward (flexion)."""
    for s, lateral in (("r", 1.0), ("l", -1.0)):
        r = ours.rotation(f"subtalar_angle_{s}", 10.0, f"calcn_{s}")
        assert r[1, 2] * lateral < -0.05  # lateral axis (Z for the right foot) goes down
        r = ours.rotation(f"mtp_angle_{s}", 10.0, f"toes_{s}")
        assert r[1, 0] < -0.1  # forward axis of the toes points down


def test_version_1_bundle_is_converted_on_read(tmp_path):
    rng = np.random.default_rng(3)
    lo, hi = sk.limits_rad()
    q = rng.uniform(np.maximum(lo, -1.0), np.minimum(hi, 1.0), size=(5, sk.N_DOFS))
    m = Motion(
        fps=30.0,
        q_rad=q,
        root_m=np.zeros((5, 3)),
        offsets_m=sk.default_offsets(1.7),
        height_m=1.7,
        mass_kg=70.0,
    )
    path = m.save(tmp_path / "new.motion.npz")
    z = dict(np.load(path))
    assert int(z["format_version"]) == 2
    z["format_version"] = np.array(1)  # as biomocap wrote it before convention 2
    old = tmp_path / "old.motion.npz"
    np.savez(old, **z)
    back = Motion.load(old)
    flipped = [sk.DOF[n] for n in sk.CONVENTION_FLIPS[2]]
    kept = [j for j in range(sk.N_DOFS) if j not in flipped]
    np.testing.assert_array_equal(back.q_rad[:, flipped], -q[:, flipped])
    np.testing.assert_array_equal(back.q_rad[:, kept], q[:, kept])
    assert "subtalar_angle_r" in back.provenance["format_conversion"]
    np.testing.assert_array_equal(Motion.load(path).q_rad, q)  # version 2: untouched


def test_neurik_weights_record_their_convention(tmp_path):
    """Configs without the key are convention 1 and their output is converted; a config saying
    convention 2 is used as it is."""
    from core.neurik.model import NeurIKConfig

    cfg = NeurIKConfig(marker_set="anatomical", marker_names=("a", "b"))
    d = json.loads(cfg.to_json())
    assert d["skeleton_convention"] == sk.SKELETON_CONVENTION
    del d["skeleton_convention"]
    assert NeurIKConfig.from_json(json.dumps(d)).skeleton_convention == 1
    d["skeleton_convention"] = sk.SKELETON_CONVENTION + 1
    with pytest.raises(ValueError, match="skeleton convention"):
        NeurIKConfig.from_json(json.dumps(d))
    q = np.zeros((2, sk.N_DOFS))
    q[:, sk.DOF["subtalar_angle_l"]] = 0.3
    q[:, sk.DOF["knee_angle_l"]] = 0.5
    got = sk.to_current_convention(q, 1)
    assert got[0, sk.DOF["subtalar_angle_l"]] == -0.3 and got[0, sk.DOF["knee_angle_l"]] == 0.5
