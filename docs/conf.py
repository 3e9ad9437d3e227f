"""Sphinx configuration for the httsleep documentation (MyST Markdown pages)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from httsleep import __version__  # noqa: E402 - needs the path above when httsleep is not installed

project = "httsleep"
author = "Aengus Walton and the httsleep contributors"
copyright = "2016-2026, " + author  # noqa: A001 - the name Sphinx reads
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
# No sphinx.ext.intersphinx: it downloads inventories, and builds must work offline.

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3  # links such as api.md#testing-mode

autodoc_member_order = "bysource"
# Signatures show names and default values (50, not DEFAULT_MAX_RETRIES); the
# types go in the parameter list below them, where they are readable.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = False
nitpicky = False

html_theme = "furo"
html_title = "httsleep " + release
html_theme_options = {
    "source_repository": "https://github.com/kopf/httsleep/",
    "source_branch": "main",
    "source_directory": "docs/",
}
