"""Names: a user's file stem becomes an OpenSim component name OpenSim accepts, and --name can
never leave the output folder."""

from __future__ import annotations

import argparse

import pytest

from core.options import component_name, safe_name


@pytest.mark.opensim
@pytest.mark.parametrize(
    "name", ["my walk", "José ñandú", "步行", "-walk", "1st trial", "a+b*c", ""]
)
def test_component_names_are_accepted_by_opensim(name):
    osim = pytest.importorskip("opensim")
    mapped = component_name(name)
    model = osim.Model()
    model.setName(mapped)
    model.finalizeConnections()
    model.initSystem()  # raises for a name OpenSim rejects
    assert mapped.isascii() and " " not in mapped


def test_component_name_keeps_what_it_can():
    assert component_name("José walk") == "Jose_walk"
    assert component_name("walk_01.v2") == "walk_01.v2"


@pytest.mark.parametrize("bad", ["", " ", ".", "..", "../x", "a/b", "a\\b", "x\ty", "a\x00b"])
def test_safe_name_refuses_paths(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        safe_name(bad)


@pytest.mark.parametrize("good", ["my walk", "José", "步行", "walk.v2", "-walk"])
def test_safe_name_allows_ordinary_names(good):
    assert safe_name(good) == good
