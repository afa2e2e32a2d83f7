"""The book's PDF edition (``bash tools/build.sh --pdf`` / ``python tools/book.py pdf``).

* ``texdeps``  — which Debian TeX/font/poppler packages the PDF needs; installs them as root.
* ``checks``   — refuses a build with ANSI escapes in recorded outputs or missing glyphs in xelatex's log.
* ``build``    — Sphinx's LaTeX builder over the recorded notebooks (nothing is executed), then xelatex.
* ``sphinx_latex`` — a Sphinx extension used only by the LaTeX build: solutions collected at the end of each
  chapter (练习解答), equations shrunk to the line width, the run statistics as an appendix.
"""
