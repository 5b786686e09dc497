"""Every hostile case of ``cases.py`` must be GOOD: one ``error:`` line naming the problem, no
traceback, earlier results byte-identical (or, for inputs that should work, a checked result)."""

from __future__ import annotations

import pytest

from tests.robustness.cases import CASES, GOOD, build_base, run_case

pytestmark = pytest.mark.opensim


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    pytest.importorskip("opensim")
    return build_base(tmp_path_factory.mktemp("hostile") / "base")


def _param(c):
    marks = [pytest.mark.slow] if c.heavy else []
    return pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_case(case, base, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working folder either
    if case.heavy:
        pytest.importorskip("torch")
    outcome = run_case(case, base, tmp_path / "case")
    assert outcome.verdict == GOOD, f"{case.id}: {outcome.verdict}: {outcome.reason}"
    assert not [p for p in tmp_path.iterdir() if p.name != "case"], "wrote into the cwd"


def test_enough_cases():
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
