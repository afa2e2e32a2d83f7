"""Small Sphinx extension for the book's HTML (loaded via ``sphinx.local_extensions`` in _config.yml).

* Drops duplicated ``<script>`` tags: sphinx-thebe and sphinx-togglebutton end up in the page
  twice under Jupyter Book 1.x, and the second ``const THEBE_JS_URL = …`` is a console error
  ("Identifier 'THEBE_JS_URL' has already been declared").
* Gives pydata-sphinx-theme a ``default_mode``: without one the page sets ``data-mode=""`` and
  the theme logs "Got invalid theme mode". Light, because figures and Graphviz diagrams are
  drawn for a white page.
* Puts a Chinese placeholder in the search box (Jupyter Book's default is "Search this book...").
* Joins prose lines that break between two Chinese characters. Markdown turns a line break into a
  space, which is right between English words but shows as a stray gap in Chinese ("不同， 算出").
  Code, literals and math keep their line breaks; a break next to a Latin word stays a space.

The navigation-button fix and the phone CSS are plain files in ``_static/`` (Jupyter Book adds
every ``_static/*.js`` / ``*.css`` to ``html_js_files`` / ``html_css_files``).
"""
from __future__ import annotations

import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

# CJK punctuation, ideographs, full-width forms, and the dashes, quotes and ellipsis Chinese text uses
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef\u2014\u2018\u2019\u201c\u201d\u2026"
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])[ \\t]*\\n[ \\t]*(?=[{_CJK}])")
_KEEP_BREAKS = (nodes.FixedTextElement, nodes.literal, nodes.math, nodes.raw, nodes.comment)


def join_cjk_lines(text: str) -> str:
    """``text`` without the line breaks that fall between two CJK characters."""
    return _CJK_BREAK.sub("", text)


_SOFTBREAK = re.compile(r"[ \t]*\n[ \t]*")
_IS_CJK = re.compile(f"[{_CJK}]")


def _edge(node, last: bool) -> str:
    text = node.astext() if node is not None else ""
    return text[-1:] if last else text[:1]


class JoinCJKLines(SphinxPostTransform):
    """MyST gives a soft line break its own Text node ("\n") between the text or inline nodes around it;
    other parsers leave it inside one Text node. Both are joined when CJK is on both sides.
    A post-transform, so that cross-references already show their titles ("见\n{doc}`…`" = "见转置卷积")
    and the search index (built from the same doctree) sees the joined words."""
    default_priority = 900  # after Sphinx resolves references (priority 10)

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(nodes.Text)):
            parent = node.parent
            if parent is None or isinstance(parent, _KEEP_BREAKS):
                continue
            text = str(node)
            # by identity: Text nodes are strings, and docutils' index()/remove() compare by value
            i = next(k for k, child in enumerate(parent.children) if child is node)
            if _SOFTBREAK.fullmatch(text):
                # the nearest siblings with text (MyST leaves empty Text nodes after inline markup)
                before = next((c for c in reversed(parent.children[:i]) if c.astext()), None)
                after = next((c for c in parent.children[i + 1:] if c.astext()), None)
                if _IS_CJK.fullmatch(_edge(before, True) or "x") and _IS_CJK.fullmatch(_edge(after, False) or "x"):
                    del parent.children[i]
                continue
            joined = join_cjk_lines(text)
            if joined != text:
                parent.children[i] = nodes.Text(joined)
                parent.children[i].parent = parent


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
    app.add_post_transform(JoinCJKLines)
    app.connect("config-inited", _configure_theme)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
