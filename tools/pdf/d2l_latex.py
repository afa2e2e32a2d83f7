"""Sphinx extension for the book's PDF (loaded via ``sphinx.local_extensions`` in _config.yml; does nothing
for the HTML builder).

* **练习解答 at the end of each chapter**: every solution (sphinx-exercise's ``solution`` node) is moved out
  of its section into an unnumbered ``练习解答`` section at the end of the chapter (a part of the book:
  ``chapters/<part>/index`` and its sections), grouped under the section it came from. Numbers stay the
  HTML's: the solution's title ("解答 练习 2.3.1") was resolved before the move, and its labels keep the
  section's name (it is wrapped in a ``start_of_file`` of the section).
* **Equations fit the line**: a display equation wider than the line (less room for its number) is scaled
  down to the line width (``\\dtwolfit`` in d2lbook.sty) instead of running into the margin.
* **The run statistics as an appendix**: ``\\appendix`` before ``chapters/status``; the root page's text
  under an unnumbered 简介 heading before chapter 1.
* **Wide tables wrap**: a table wider than a line gets column widths (narrow columns keep theirs).
* Loads ``d2lbook.sty`` (chapter titles 第 N 章, code line wrapping, fonts) from this folder.
"""
from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.texescape import escape
from sphinx.writers.latex import LaTeXTranslator

HERE = Path(__file__).resolve().parent
STATUS_DOC = "chapters/status"
SOLUTIONS_TITLE = "练习解答"


def _is_solution(node) -> bool:
    return type(node).__name__ == "solution_node"


def _solutions(node, doc: str, found: list) -> list:
    """``(docname, parent, solution)`` for each solution under ``node``, walking down from the top:
    the LaTeX builder's inlined documents keep their children's parent pointers to the original
    doctree, so the section a node came from is only known on the way down."""
    for child in node.children:
        if isinstance(child, addnodes.start_of_file):
            _solutions(child, child["docname"], found)
        elif _is_solution(child):
            found.append((doc, node, child))
        elif isinstance(child, nodes.Element):
            _solutions(child, doc, found)
    return found


def _chapter_files(tree) -> list[addnodes.start_of_file]:
    """The ``start_of_file`` nodes of the chapters: ``chapters/<part>/index`` pages."""
    return [n for n in tree.findall(addnodes.start_of_file)
            if re.fullmatch(r"chapters/[^/]+/index", n["docname"])]


def _title_of(env, docname: str) -> str:
    title = env.titles.get(docname)
    number = env.toc_secnumbers.get(docname, {}).get("")
    text = title.astext() if title is not None else docname
    return (".".join(map(str, number)) + " " + text) if number else text


def collect_solutions(app, tree, docname) -> None:
    """Move each chapter's solutions into a 练习解答 section at the chapter's end."""
    if app.builder.format != "latex":
        return
    for chapter in _chapter_files(tree):
        body = next((c for c in chapter.children if isinstance(c, nodes.section)), None)
        if body is None:
            continue
        solutions = _solutions(body, chapter["docname"], [])
        if not solutions:
            continue
        by_doc: dict[str, list] = {}
        for doc, parent, sol in solutions:
            by_doc.setdefault(doc, []).append(sol)
            parent.remove(sol)
        heading = ("\\section*{%s}\\addcontentsline{toc}{section}{%s}\\markright{%s}\n"
                   % (SOLUTIONS_TITLE, SOLUTIONS_TITLE, SOLUTIONS_TITLE))
        body += nodes.raw("", heading, format="latex")
        for doc, sols in by_doc.items():
            wrapper = addnodes.start_of_file(docname=doc)
            title = escape(_title_of(app.env, doc), "xelatex")
            wrapper += nodes.raw("", "\\subsection*{%s}\n" % title, format="latex")
            for sol in sols:
                wrapper += sol
            body += wrapper


INTRO_TITLE = "简介"


def intro_heading(app, tree, docname) -> None:
    """The root page's text (before the first chapter) under an unnumbered 简介 heading: LaTeX drops the
    root page's own title (it is the book's title)."""
    if app.builder.format != "latex" or docname != app.config.root_doc:
        return
    top = next(iter(tree.findall(nodes.section)), None)
    if top is not None:
        at = 1 if top.children and isinstance(top[0], nodes.title) else 0
        top.insert(at, nodes.raw("", "\\chapter*{%s}\\markboth{%s}{%s}\n" % ((INTRO_TITLE,) * 3), format="latex"))


def status_as_appendix(app, tree, docname) -> None:
    if app.builder.format != "latex":
        return
    for sof in tree.findall(addnodes.start_of_file):
        if sof["docname"] == STATUS_DOC:
            sof.parent.insert(sof.parent.index(sof), nodes.raw("", "\\appendix\n", format="latex"))
            return


def _width(text: str) -> int:
    """Printed width in Latin characters (a Chinese character is two)."""
    return sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in text)


def _entry_width(entry) -> int:
    """A table cell's printed width, roughly: math counts a quarter of its LaTeX source."""
    width = 0
    for text in entry.findall(nodes.Text):
        in_math = any(isinstance(a, nodes.math) for a in _ancestors(text, entry))
        width += len(text) // 4 if in_math else _width(text)
    return width


def _ancestors(node, stop):
    while node is not None and node is not stop:
        node = node.parent
        yield node


LINE_CHARS = 90  # about what a 10 pt A4 line holds


NARROW = 12  # a column this wide (or less) keeps its full width; the wide ones share the rest


def _share_line(widths: list[int], line: int = LINE_CHARS, padding: int = 3) -> list[int]:
    """Column widths for one line: narrow columns (numbers, short words) get what they need, the wide
    ones share the rest in proportion to their content, so that only they wrap."""
    fixed = sum(w + padding for w in widths if w <= NARROW)
    wide = [w for w in widths if w > NARROW]
    room = max(line - fixed, NARROW * len(wide))
    return [w + padding if w <= NARROW else max(NARROW, round(room * w / sum(wide))) for w in widths]


def fit_wide_tables(app, tree, docname) -> None:
    """Give tables wider than a line column widths in proportion to their content, so that LaTeX wraps
    the cells (without widths Sphinx sets a long table in ``l`` columns, which run off the page)."""
    if app.builder.format != "latex":
        return
    for table in tree.findall(nodes.table):
        if "colwidths-given" in table["classes"]:
            continue
        tgroup = next(iter(table.findall(nodes.tgroup)), None)
        if tgroup is None:
            continue
        colspecs = [c for c in tgroup.children if isinstance(c, nodes.colspec)]
        widths = [1] * len(colspecs)
        for row in tgroup.findall(nodes.row):
            col = 0
            for entry in row.children:
                if col < len(widths):
                    widths[col] = max(widths[col], min(_entry_width(entry), 60))
                col += 1 + entry.get("morecols", 0)
        if sum(widths) <= LINE_CHARS:
            continue
        for spec, w in zip(colspecs, _share_line(widths)):
            spec["colwidth"] = w
        table["classes"] = [c for c in table["classes"] if c != "colwidths-auto"] + ["colwidths-given"]


class BookLaTeXTranslator(LaTeXTranslator):
    """Sphinx's LaTeX translator with display equations that shrink to the line width."""

    def visit_math_block(self, node) -> None:
        if node.get("nowrap"):
            return super().visit_math_block(node)
        label = f"equation:{node['docname']}:{node['label']}" if node.get("label") else None
        from sphinx.util.math import wrap_displaymath
        text = wrap_displaymath(node.astext(), label, self.config.math_number_all)
        # split must sit directly in equation; aligned may sit in a box, which \dtwolfit scales
        text = text.replace("\\begin{split}", "\\dtwolfit{\\begin{aligned}").replace(
            "\\end{split}", "\\end{aligned}}")
        self.body.append(text)
        raise nodes.SkipNode


def _add_style(app, config) -> None:
    """Read by the LaTeX builder only (set before it starts: it copies latex_elements at init)."""
    config.latex_additional_files = [*config.latex_additional_files, str(HERE / "d2lbook.sty")]
    elements = dict(config.latex_elements)
    elements["preamble"] = elements.get("preamble", "") + "\n\\usepackage{d2lbook}\n"
    config.latex_elements = elements


def setup(app):
    app.set_translator("latex", BookLaTeXTranslator, override=True)
    app.connect("config-inited", _add_style)
    app.connect("doctree-resolved", collect_solutions)
    app.connect("doctree-resolved", status_as_appendix)
    app.connect("doctree-resolved", intro_heading)
    app.connect("doctree-resolved", fit_wide_tables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
