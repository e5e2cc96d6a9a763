import numpy as np
import pytest

from medfusion_lib.claims import ClaimError, claim


def test_true_claim_prints_tick(capsys):
    assert claim(np.float64(0.9) > 0.8, "fusion beats text alone", "0.900 vs 0.800") is None
    out = capsys.readouterr().out
    assert "fusion beats text alone" in out and "0.900 vs 0.800" in out


def test_false_claim_raises_with_the_sentence():
    with pytest.raises(ClaimError, match="validation loss turns up"):
        claim(False, "the validation loss turns up")
    with pytest.raises(AssertionError):  # nbval and papermill see an ordinary failed assertion
        claim(np.bool_(False), "x")


def test_array_condition_is_refused_with_advice():
    with pytest.raises(TypeError, match=r"\.all\(\)"):
        claim(np.array([True, False]), "all rows agree")


def test_empty_statement_refused():
    with pytest.raises(ValueError):
        claim(True, "  ")


def test_progress_bars_follow_the_environment(monkeypatch):
    from medfusion_lib.config import progress_bar, show_progress

    monkeypatch.setenv("MEDFUSION_PROGRESS", "1")
    assert show_progress()
    monkeypatch.setenv("MEDFUSION_PROGRESS", "0")
    assert not show_progress()
    assert progress_bar(range(3)).disable  # nothing drawn, nothing saved into an executed notebook
    assert list(progress_bar(range(3))) == [0, 1, 2]
