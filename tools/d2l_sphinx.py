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
  Code, literals and math keep their line breaks; a break next to a Latin word stays a space, except
  after or before full-width punctuation (，。：；？！、), which has its own spacing ("，$x$" not "， $x$").
* Keeps run plumbing out of the reader's way (the notebook still runs it): ``d2l.glue(...)`` statements
  are left out of the code shown on the page (also inside a loop; a loop of nothing but glue goes too), a cell left with nothing else is not shown
  at all, and the bare value a trailing ``d2l.glue(...)`` echoes ("0.8329") is not shown either.
* Lays long left-to-right Graphviz chains out top to bottom where the page is too narrow for them:
  when a ``rankdir=LR`` diagram scaled to the column would have text under 11 px, it is drawn top to
  bottom instead (desktop column), or drawn twice and the top-to-bottom one shown only on a phone.

The navigation-button fix and the phone CSS are plain files in ``_static/`` (Jupyter Book adds
every ``_static/*.js`` / ``*.css`` to ``html_js_files`` / ``html_css_files``).
"""
from __future__ import annotations

import ast
import re
import subprocess

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
# full-width punctuation brings its own space: no gap after ，。：；？！、 or before ，。：；？！、）
_PUNCT_AFTER, _PUNCT_BEFORE = "，。：；？！、", "，。：；？！、）"
_SPACE_AFTER_PUNCT = re.compile(f"(?<=[{_PUNCT_AFTER}])\\s+")
_SPACE_BEFORE_PUNCT = re.compile(f"\\s+(?=[{_PUNCT_BEFORE}])")


def drop_spaces_at_punctuation(text: str) -> str:
    """``text`` without the spaces and line breaks after ，。：；？！、 and before ，。：；？！、）."""
    return _SPACE_BEFORE_PUNCT.sub("", _SPACE_AFTER_PUNCT.sub("", text))


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
            # the nearest siblings with text (MyST leaves empty Text nodes after inline markup)
            before = next((c for c in reversed(parent.children[:i]) if c.astext()), None)
            after = next((c for c in parent.children[i + 1:] if c.astext()), None)
            left, right = _edge(before, True), _edge(after, False)
            if text and not text.strip():  # only spaces / a soft line break between two inline nodes
                at_punct = bool(left and left in _PUNCT_AFTER) or bool(right and right in _PUNCT_BEFORE)
                cjk_break = bool(_SOFTBREAK.fullmatch(text) and _IS_CJK.fullmatch(left or "x")
                                 and _IS_CJK.fullmatch(right or "x"))
                if at_punct or cjk_break:
                    del parent.children[i]
                continue
            joined = drop_spaces_at_punctuation(join_cjk_lines(text))
            if left and left in _PUNCT_AFTER:
                joined = joined.lstrip()
            if right and right in _PUNCT_BEFORE:
                joined = joined.rstrip()
            if joined != text:
                parent.children[i] = nodes.Text(joined)
                parent.children[i].parent = parent


# ---------------------------------------------------------------------------------------------
# Run plumbing: d2l.glue(...) statements
# ---------------------------------------------------------------------------------------------

def _is_glue_call(stmt: ast.stmt) -> bool:
    """``d2l.glue(...)`` / ``glue(...)`` as a statement of its own, its value unused or thrown away
    (``_ = d2l.glue(...)``)."""
    if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) and t.id == "_" for t in stmt.targets):
        value = stmt.value
    elif isinstance(stmt, ast.Expr):
        value = stmt.value
    else:
        return False
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    return (isinstance(func, ast.Attribute) and func.attr == "glue") or (isinstance(func, ast.Name) and func.id == "glue")


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    return [b for b in (getattr(stmt, f, None) for f in ("body", "orelse", "finalbody"))
            if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]


def _is_plumbing(stmt: ast.stmt) -> bool:
    """A glue statement, or a loop / ``with`` / ``if`` that holds nothing but glue statements."""
    if _is_glue_call(stmt):
        return True
    blocks = _blocks(stmt)
    return bool(blocks) and isinstance(stmt, (ast.For, ast.While, ast.With, ast.If)) and \
        all(_is_plumbing(s) for b in blocks for s in b)


def _glue_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The plumbing statements in ``body`` and in the blocks nested in it; a nested block keeps at
    least one statement."""
    found = [s for s in body if _is_plumbing(s)]
    for stmt in body:
        if not _is_plumbing(stmt):
            for block in _blocks(stmt):
                if not all(_is_plumbing(s) for s in block):
                    found += _glue_statements(block)
    return found


def without_glue(source: str) -> tuple[str, bool]:
    """``(source without its glue statements, whether the last statement was one)``.
    Source that is not plain Python (IPython magics, ``!pip``) comes back unchanged."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return source, False
    glue = _glue_statements(body)
    if not glue:
        return source, False
    drop = {n for s in glue for n in range(s.lineno, s.end_lineno + 1)}
    lines = [line for n, line in enumerate(source.split("\n"), 1) if n not in drop]
    shown = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return shown, _is_glue_call(body[-1]) and isinstance(body[-1], ast.Expr)


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.split("\n"))


def hide_glue(app, doctree) -> None:
    """Leave glue statements out of the code shown on the page (the notebook keeps and runs them):
    a cell that only glues is not shown; a trailing glue call's echoed value is not shown."""
    for cell in list(doctree.findall(lambda n: isinstance(n, nodes.container)
                                     and n.get("nb_element") == "cell_code")):
        source_box = next((c for c in cell.children if c.get("nb_element") == "cell_code_source"), None)
        block = next(iter(source_box.findall(nodes.literal_block)), None) if source_box is not None else None
        if block is None:
            continue
        shown, ends_with_glue = without_glue(block.astext())
        if shown == block.astext():
            continue
        outputs = next((c for c in cell.children if c.get("nb_element") == "cell_code_output"), None)
        if ends_with_glue and outputs is not None:  # the value the last glue(...) echoed: text/plain
            echoed = [n for n in outputs.findall(nodes.Element) if "text_plain" in n.get("classes", [])]
            if echoed:
                echoed[-1].parent.remove(echoed[-1])
            if not outputs.astext().strip() and not list(outputs.findall(nodes.image)):
                cell.remove(outputs)
                outputs = None
        if _only_comments(shown):
            if outputs is None:
                cell.parent.remove(cell)
            else:
                cell.remove(source_box)
            continue
        block.rawsource = shown
        block.children = [nodes.Text(shown)]
        block.children[0].parent = block


# ---------------------------------------------------------------------------------------------
# Long left-to-right Graphviz chains
# ---------------------------------------------------------------------------------------------

DESKTOP_COLUMN_PX = 780  # the article column in a 1400 px window
PHONE_COLUMN_PX = 360    # in a 400 px window
MIN_TEXT_PX = 11
_RANKDIR_LR = re.compile(r"""\brankdir\s*=\s*["']?LR\b["']?""")
_SVG_WIDTH = re.compile(r'<svg[^>]*\bwidth="([\d.]+)pt"')
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')


def _layout(code: str, dot: str) -> tuple[float, float] | None:
    """(natural width, smallest text) in CSS px of ``code`` drawn by Graphviz as SVG (1 pt = 4/3 px)."""
    try:
        svg = subprocess.run([dot, "-Tsvg"], input=code.encode(), capture_output=True, timeout=30).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    width, sizes = _SVG_WIDTH.search(svg), [float(s) for s in _FONT_SIZE.findall(svg)]
    if not width or not sizes:
        return None
    return float(width.group(1)) * 4 / 3, min(sizes) * 4 / 3


def text_px(layout: tuple[float, float], column_px: float) -> float:
    """Smallest text of a diagram of ``layout`` scaled down to fit a column ``column_px`` wide."""
    width, smallest = layout
    return smallest * min(1.0, column_px / width)


def lay_out_wide_graphs(app, doctree) -> None:
    """A ``rankdir=LR`` diagram whose text would be under MIN_TEXT_PX once scaled to the column is drawn
    top to bottom (when that reads better): everywhere if the desktop column is too narrow for it,
    else as a second drawing shown only on a phone (classes d2l-graph-wide / d2l-graph-narrow,
    _static/d2l.css). What still does not fit scrolls sideways (_static/d2l-fit.js)."""
    from sphinx.ext.graphviz import graphviz as graphviz_node
    dot = app.config.graphviz_dot or "dot"
    for node in list(doctree.findall(graphviz_node)):
        code = node.get("code", "")
        if not _RANKDIR_LR.search(code) or "d2l-graph-narrow" in node.get("classes", []):
            continue
        tb_code = _RANKDIR_LR.sub("rankdir=TB", code)
        lr, tb = _layout(code, dot), _layout(tb_code, dot)
        if lr is None or tb is None:
            continue
        if text_px(lr, DESKTOP_COLUMN_PX) < MIN_TEXT_PX and text_px(tb, DESKTOP_COLUMN_PX) > text_px(lr, DESKTOP_COLUMN_PX):
            node["code"] = tb_code
        elif text_px(lr, PHONE_COLUMN_PX) < MIN_TEXT_PX and text_px(tb, PHONE_COLUMN_PX) > text_px(lr, PHONE_COLUMN_PX):
            narrow = node.deepcopy()
            narrow["code"] = tb_code
            node["classes"] = [*node.get("classes", []), "d2l-graph-wide"]
            narrow["classes"] = [*narrow.get("classes", []), "d2l-graph-narrow"]
            node.parent.insert(node.parent.index(node) + 1, narrow)


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
    app.connect("doctree-read", hide_glue)
    app.connect("doctree-read", lay_out_wide_graphs)
    app.connect("config-inited", _configure_theme)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
