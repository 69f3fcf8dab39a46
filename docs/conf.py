"""Sphinx configuration of exechost's documentation (MyST Markdown; ``nox -s docs`` builds it)."""

from __future__ import annotations

import exechost

project = "exechost"
author = "exechost developers"
copyright = "exechost developers"
release = exechost.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "furo"
html_title = f"exechost {release}"
