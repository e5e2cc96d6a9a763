"""tools/venv.py, the cached virtualenv behind `make venv`: the key follows the dependency list only, a clone's
rewritten scripts leave the cache untouched, and only the newest caches are kept."""
from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("medfusion_venv_tool", REPO / "tools" / "venv.py")
venv_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(venv_tool)

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
[project]
name = "medfusion_lib"
dependencies = ["numpy>=1.24", "torch>=2.2,<2.15"]
[project.optional-dependencies]
site = ["sphinx>=7.2"]
dev = ["medfusion_lib[site]", "pytest>=7.4"]
[tool.pytest.ini_options]
addopts = "-ra"
"""


def _key(tmp_path: Path, text: str) -> tuple[list[str], str]:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    reqs, tables = venv_tool.requirements(path)
    return reqs, venv_tool.cache_key(tables)


def test_requirements_expand_the_self_reference_and_include_the_build_backend(tmp_path):
    reqs, _ = _key(tmp_path, PYPROJECT)
    assert sorted(reqs) == sorted(["setuptools>=68", "numpy>=1.24", "torch>=2.2,<2.15", "sphinx>=7.2", "pytest>=7.4"])


def test_the_key_follows_dependencies_not_other_settings(tmp_path):
    _, key = _key(tmp_path, PYPROJECT)
    assert _key(tmp_path, PYPROJECT.replace('addopts = "-ra"', 'addopts = "-q"'))[1] == key
    assert _key(tmp_path, PYPROJECT.replace("torch>=2.2,<2.15", "torch>=2.3,<2.15"))[1] != key
    assert _key(tmp_path, PYPROJECT.replace('"pytest>=7.4"', '"pytest>=8"'))[1] != key


def test_a_clone_rewrites_its_scripts_without_touching_the_cache(tmp_path):
    cache, clone = tmp_path / "cache", tmp_path / "clone"
    (cache / "bin").mkdir(parents=True)
    (cache / "lib").mkdir()
    script = cache / "bin" / "tool"
    script.write_text(f"#!{cache}/bin/python\nprint('hi')\n")
    script.chmod(0o755)
    (cache / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = python -m venv {cache}\n")
    (cache / "lib" / "module.py").write_text("x = 1\n")
    assert venv_tool.clone(cache, clone, venv_tool.Timer())
    assert (clone / "bin" / "tool").read_text().startswith(f"#!{clone}/bin/python")
    assert os.access(clone / "bin" / "tool", os.X_OK)
    assert script.read_text().startswith(f"#!{cache}/bin/python")  # the cache's copy is as it was
    assert str(cache) not in (clone / "pyvenv.cfg").read_text()
    assert (clone / "lib" / "module.py").stat().st_ino == (cache / "lib" / "module.py").stat().st_ino  # linked


def test_only_the_newest_caches_are_kept(tmp_path):
    now = time.time()
    for age, name in enumerate(["newest", "second", "third", "fourth"]):
        (tmp_path / name).mkdir()
        mark = tmp_path / name / venv_tool.MARK
        mark.write_text("{}")
        os.utime(mark, (now - 100 * age, now - 100 * age))
    (tmp_path / "unfinished").mkdir()  # no mark: being built, never evicted here
    venv_tool.evict(tmp_path, keep_key="fourth")  # the one in use stays even though it is the oldest
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["fourth", "newest", "unfinished"]
    assert venv_tool.KEEP == 2


@pytest.mark.skipif(not (REPO / ".venv" / ".medfusion-venv.json").is_file(), reason="`make venv` did not run here")
def test_this_checkout_is_what_the_venv_imports():
    import medfusion_lib

    assert Path(medfusion_lib.__file__).resolve().parent == REPO / "medfusion_lib"


def test_a_venv_made_by_hand_is_installed_into_not_replaced(tmp_path, monkeypatch):
    # The README's CPU-only PyTorch path: the user makes .venv with a small torch wheel, then runs make.
    venv, checkout = tmp_path / ".venv", tmp_path / "checkout"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "mine").write_text("the user's own install")
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.setenv("MEDFUSION_VENV_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(venv_tool, "plain_install", lambda v, c, t: calls.append(("plain", v)))
    monkeypatch.setattr(venv_tool, "build_cache", lambda *a: calls.append(("build_cache",)))
    monkeypatch.setattr(venv_tool, "clone", lambda *a: calls.append(("clone",)) or True)
    monkeypatch.setattr(venv_tool, "finish", lambda *a: calls.append(("finish",)))
    assert venv_tool.main(["--venv", str(venv), "--checkout", str(checkout)]) == 0
    assert calls == [("plain", venv)]
    assert (venv / "mine").read_text() == "the user's own install"


def test_pip_sources_become_uv_options_with_pips_precedence():
    listing = ("global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n"
               "global.find-links='/opt/old'\n:env:.find-links='/opt/wheels'\n"
               "global.constraint='/etc/pip/constraints.txt'\n:env:.cert='/etc/ssl/ca.crt'\n"
               "global.default-timeout='180'\n")
    settings = venv_tool.pip_settings(listing)
    assert settings["find-links"] == "/opt/wheels", "an environment variable overrides pip's config files"
    assert venv_tool.uv_options(settings) == ["--extra-index-url", "file:///opt/a/simple",
                                         "--extra-index-url", "file:///opt/b/simple",
                                         "--find-links", "/opt/wheels", "--constraint", "/etc/pip/constraints.txt"]


def test_a_pip_setting_uv_would_not_honour_leaves_the_install_to_pip():
    assert venv_tool.uv_options(venv_tool.pip_settings("global.no-index='true'\nglobal.find-links='/opt/wheels'\n")) is None


def test_no_process_builds_jsonschemas_iri_grammar():
    """pyproject.toml keeps jsonschema below 4.25, whose import builds an Earley parser (rfc3987-syntax) in every
    process that imports nbformat or Ray: 1-3 CPU-s each, and slow enough Ray agents to miss Ray's start-up limit."""
    import subprocess
    import sys

    probe = "import sys, nbformat, ray; print('rfc3987_syntax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
