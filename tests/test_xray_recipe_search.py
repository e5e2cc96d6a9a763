"""tools/xray_recipe_search.py (how the real-X-ray recipe was chosen): bad input is one clear line, and the
candidates it lists include the recipe the library uses."""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("medfusion_xray_search", REPO / "tools" / "xray_recipe_search.py")
search = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search)


def test_the_library_recipe_is_one_of_the_candidates():
    from medfusion_lib.vision.recipe import XRAY_EPOCHS, XRAY_WIDTH

    assert (XRAY_WIDTH, XRAY_EPOCHS) in search.CANDIDATES.values()


def test_unknown_candidate_and_missing_file_are_clear_errors(tmp_path, monkeypatch, capsys):
    from medfusion_lib.bench import image

    monkeypatch.setattr(image, "find_pneumoniamnist", lambda: None)
    assert search.main([]) == 2
    assert "no pneumoniamnist.npz found" in capsys.readouterr().err
    assert search.main(["--npz", str(tmp_path / "x.npz"), "--candidates", "w99e1"]) == 2
    assert "unknown candidate(s) ['w99e1']" in capsys.readouterr().err
