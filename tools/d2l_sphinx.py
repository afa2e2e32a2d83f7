"""Small Sphinx extension for the book's HTML (loaded via ``sphinx.local_extensions`` in _config.yml).

* Drops duplicated ``<script>`` tags: sphinx-thebe and sphinx-togglebutton end up in the page
  twice under Jupyter Book 1.x, and the second ``const THEBE_JS_URL = …`` is a console error
  ("Identifier 'THEBE_JS_URL' has already been declared").
* Gives pydata-sphinx-theme a ``default_mode``: without one the page sets ``data-mode=""`` and
  the theme logs "Got invalid theme mode". Light, because figures and Graphviz diagrams are
  drawn for a white page.
* Puts a Chinese placeholder in the search box (Jupyter Book's default is "Search this book...").

The navigation-button fix and the phone CSS are plain files in ``_static/`` (Jupyter Book adds
every ``_static/*.js`` / ``*.css`` to ``html_js_files`` / ``html_css_files``).
"""
from __future__ import annotations


SEARCH_PLACEHOLDER = "搜索本书…"


def _configure_theme(app, config) -> None:
    context = dict(config.html_context or {})  # pydata-sphinx-theme reads it from html_context
    context.setdefault("default_mode", "light")
    config.html_context = context
    options = dict(config.html_theme_options or {})
    if options.get("search_bar_text") in (None, "Search this book..."):
        options["search_bar_text"] = SEARCH_PLACEHOLDER
    config.html_theme_options = options


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        # the duplicates differ only in filename None vs "" (one added by the registry, one by the
        # builder), which is why Sphinx's own de-duplication misses them
        key = (str(getattr(js, "filename", js) or ""),
               tuple(sorted((k, str(v)) for k, v in attrs.items() if k != "priority")))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    if len(unique) != len(scripts):
        context["script_files"] = unique


def setup(app):
    app.connect("config-inited", _configure_theme)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
