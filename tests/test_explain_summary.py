"""explain_section(quick=True): the keys medfusion bench trust reads, with sane values."""
from __future__ import annotations

import math

import pytest

from medfusion_lib.explain.summary import explain_section


@pytest.fixture(scope="module")
def section():
    return explain_section(quick=True)


def test_keys(section):
    assert set(section) >= {"explain", "shapley", "seconds"}
    for key in ("pointing_game", "pointing_game_random", "sanity_spearman", "energy_in_mask",
                "energy_in_mask_random", "pointing_game_strict", "hooks_vs_captum_max_diff", "n_films"):
        assert key in section["explain"], key
    assert set(section["shapley"]) >= {"text", "image", "vitals", "empty", "full"}


def test_values_are_consistent(section):
    e, s = section["explain"], section["shapley"]
    assert 0 <= e["pointing_game_random"] < e["pointing_game"] <= 1
    assert e["n_films"] > 50
    assert e["hooks_vs_captum_max_diff"] < 1e-5
    assert math.isfinite(e["sanity_spearman"]) and e["sanity_spearman"] < e["sanity_spearman_by_layer"]["none (trained)"]
    assert s["text"] + s["image"] + s["vitals"] == pytest.approx(s["full"] - s["empty"])
    assert section["seconds"] > 0
