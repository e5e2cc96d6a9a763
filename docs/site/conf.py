"""Sphinx configuration of the course website (``medfusion site build`` copies this folder into its staging
tree). Everything the pages load comes from the site itself: no CDN scripts, fonts or math renderers, so the
site builds with no network and works from ``file://`` and from ``python -m http.server``."""

project = "MedFusion"
author = "the MedFusion course"
copyright = "MedFusion course authors, MIT licence"
html_title = "MedFusion"

extensions = ["myst_nb", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "_extra", "_static", "**.ipynb_checkpoints", "favicon.svg"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# The notebooks arrive executed (``make run``); the site never runs code.
nb_execution_mode = "off"
# No require.js or widget manager from a CDN (the course saves no widget state).
nb_ipywidgets_js = {}
nb_merge_streams = True
# show_key_figures() also emits a MedFusion mime type for the report; myst-nb shows its text/markdown twin.
suppress_warnings = ["mystnb.unknown_mime_type"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
}
# A favicon of our own: without one the browser asks the server for /favicon.ico and logs the 404 as an error.
html_favicon = "favicon.svg"
html_static_path = ["_static"]
html_css_files = ["medfusion.css"]
html_extra_path = ["_extra"]
# Our own links point at the notebook sources; Sphinx's copies of the page sources are not needed.
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None

# MathJax 3 (its single-file TeX-to-SVG bundle, every TeX package included) from the django-static-mathjax
# package, copied into _static/mathjax by the builder: SVG output draws glyphs from JavaScript, so no web font
# is fetched (file:// pages may not load fonts) and no extension is loaded later.
mathjax_path = "mathjax/tex-svg-full.js"
mathjax3_config = {"options": {"enableMenu": False}, "startup": {"typeset": True}}
# Sphinx's search shows page summaries by fetching each page, which file:// forbids; titles are enough.
html_show_search_summary = False
# The theme's light/dark switch starts in light mode (an unset mode is reported as an error in the console).
html_context = {"default_mode": "light"}
