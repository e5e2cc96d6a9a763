"""The course website in headless Chromium: every page, image, internal link, MathJax, search; file:// too."""
from __future__ import annotations

import functools
import http.server
import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from medfusion_lib.config import build_dir
from medfusion_lib.site.executed import executed_dir
from medfusion_lib.lessons import course_lessons

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output for failures
        pass


@pytest.fixture(scope="module")
def served(quick_site):
    """The site served by ``python -m http.server``'s handler on a free port of 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(quick_site.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def page(browser):
    """A fresh page that records console errors, uncaught exceptions and failed requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: m.type == "error" and tab.problems.append(f"console: {m.text}"))
    tab.on("pageerror", lambda e: tab.problems.append(f"exception: {e}"))
    # ERR_ABORTED: the browser dropped the request itself, e.g. the previous page's favicon when the test navigated
    # on (seen once in a fresh-clone run). A missing file answers 404, which the console reports as an error.
    tab.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
           and tab.problems.append(f"request failed: {r.url} ({r.failure})"))
    yield tab
    context.close()


def _open(tab, url: str) -> None:
    """Load ``url`` and wait until its scripts settled: MathJax typeset (when the page has math), images decoded."""
    tab.goto(url, wait_until="load")
    tab.wait_for_function("() => !window.MathJax || !window.MathJax.startup || !!window.MathJax.startup.promise")
    tab.evaluate("() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise : null")
    tab.evaluate("() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))")


def _broken_images(tab) -> list[str]:
    return tab.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                        ".map(i => i.getAttribute('src'))")


def _pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if "_static" not in p.parts)


def _figures(stem: str) -> int:
    """Image outputs (figures) in the quick-mode executed copy of a lesson."""
    nb = json.loads((executed_dir(quick=True) / f"{stem}.ipynb").read_text())
    return sum(any(m.startswith("image/") for m in out.get("data", {}))
               for cell in nb["cells"] for out in cell.get("outputs", []))


def _math_pages(site: Path) -> list[str]:
    """Lesson pages with TeX for MathJax (Sphinx writes inline math as \\( \\), display math as \\[ \\])."""
    return [n for n in _pages(site) if n.startswith("lessons/")
            and any(mark in (site / n).read_text() for mark in ("\\(", "\\["))]


def test_every_page_loads_cleanly_and_every_link_resolves(quick_site, served, page):
    """Each page: no console error, no failed request; lesson images loaded; every internal link answers."""
    site = quick_site.site
    names = _pages(site)
    assert "index.html" in names and any(n.startswith("lessons/") for n in names)
    links: dict[str, str] = {}
    images_checked = 0
    for name in names:
        page.problems.clear()
        _open(page, served + name)
        assert not page.problems, f"{name}: {page.problems}"
        if name.startswith("lessons/"):
            count = page.evaluate("() => document.images.length")
            figures = _figures(Path(name).stem)
            assert count >= figures, f"{name} shows {count} images; the executed lesson drew {figures} figures"
            assert not _broken_images(page), f"{name}: images not loaded: {_broken_images(page)}"
            images_checked += count
        for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"):
            if href.startswith(served):
                links.setdefault(href, name)
    assert images_checked > 0, "no lesson page shows an image (lesson 00 draws the cohort)"
    texts: dict[str, str] = {}
    for href, on_page in sorted(links.items()):
        url, fragment = urldefrag(href)
        path = urlparse(url).path.lstrip("/") or "index.html"
        if url not in texts:
            try:
                with urllib.request.urlopen(url) as response:
                    texts[url] = response.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as exc:
                pytest.fail(f"{on_page} links to {path}: HTTP {exc.code}")
        if fragment and path.endswith(".html"):
            assert re.search(rf'id="{re.escape(fragment)}"', texts[url]), f"{on_page} links to a missing #{fragment} in {path}"
    print(f"checked {len(names)} pages, {images_checked} lesson images, {len(links)} internal links")


def test_math_is_typeset_offline(quick_site, served, page):
    with_math = _math_pages(quick_site.site)
    assert with_math, "no lesson page with math in this build (lesson 04 has some)"
    _open(page, served + with_math[0])
    assert page.locator("mjx-container svg").count() > 0, f"{with_math[0]}: MathJax drew nothing"
    assert not page.problems, page.problems


def test_search_box_finds_a_lesson_term(quick_site, served, page):
    lessons = {l.stem: l for l in course_lessons()}
    built = [n for n in _pages(quick_site.site) if n.startswith("lessons/")]
    sources = {n: (lessons[Path(n).stem].path).read_text().lower() for n in built}
    term = "temperature scaling" if any("temperature scaling" in s for s in sources.values()) else "negation"
    expected = {n for n, s in sources.items() if term in s}
    assert expected, f"no built lesson mentions {term!r}"
    _open(page, served + "index.html")
    page.locator(".search-button__button:visible").first.click()
    box = page.locator("input[name='q']:visible").first
    box.fill(term)
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html"))
    page.wait_for_selector("#search-results li a")
    page.wait_for_function("() => !document.querySelector('#search-results .search-summary')?.textContent"
                           ".includes('Searching')", timeout=30_000)
    found = page.evaluate("() => [...document.querySelectorAll('#search-results li a')].map(a => a.getAttribute('href'))")
    hits = {urlparse(h).path.lstrip("/") for h in found}
    assert hits & expected, f"searching {term!r} found {sorted(hits)}, expected one of {sorted(expected)}"
    assert not page.problems, page.problems


def test_pages_work_from_disk_and_screenshots(quick_site, page):
    """Opened as file:// (no server): landing page, lessons (figures, math) and search work; screenshots saved."""
    site = quick_site.site
    shots = build_dir() / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    lessons = _pages(site)
    lesson = next(n for n in lessons if n.startswith("lessons/00_"))
    with_math = _math_pages(site)[0]
    for name, shot in (("index.html", "site-landing.png"), (lesson, "site-lesson.png"), (with_math, None)):
        page.problems.clear()
        _open(page, (site / name).as_uri())
        assert not page.problems, f"{name} from disk: {page.problems}"
        assert not _broken_images(page), f"{name} from disk: images not loaded"
        if name == with_math:
            assert page.locator("mjx-container svg").count() > 0, f"{name} from disk: MathJax drew nothing"
        if shot:
            page.screenshot(path=str(shots / shot))
            assert (shots / shot).stat().st_size > 10_000
    _open(page, (site / lesson).as_uri())
    page.locator(".cell_output img").first.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "site-lesson-figure.png"))
    page.problems.clear()
    _open(page, (site / "search.html").as_uri() + "?q=cohort")
    page.wait_for_selector("#search-results li a")  # search works from disk too
    assert not page.problems, f"search from disk: {page.problems}"
