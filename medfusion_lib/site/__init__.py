"""The course website: executed lessons, exercises, solutions (hidden tests removed) and reference pages.

``build_site(quick)`` stages the pages from ``notebooks/``, ``build/notebooks/{full,quick}/``,
``exercises/``, ``solutions/``, ``docs/`` and ``build/bench/``, then runs Sphinx + myst-nb with the
sphinx-book-theme (the stack Jupyter Book 1 wraps) into ``build/site/``. Nothing is fetched from a network.

Modules, one idea each:
    lessons    the lesson list and each lesson's title, time and matching exercise, read from notebooks/
    executed   executed lesson copies from ``make run``: which are current, and running the missing ones
    publish    the published copies: lessons with a header, exercises, solutions without hidden tests
    leaks      the hidden-test lines of solutions/ and a scan of a built site for them
    pages      Markdown for the landing page, the section indexes and the benchmark tables
    build      staging the sources, running Sphinx, the reuse stamp
"""
from medfusion_lib.site.build import SiteResult, build_site

__all__ = ["SiteResult", "build_site"]
