#!/usr/bin/env python3
"""The book's pipeline: execute sections with papermill, record outputs, build the HTML.

    python tools/book.py run [--all] [--profile auto|quick|full] [--force] [SECTION ...]
    python tools/book.py retext SECTION  # prose-only edit: update the notebook's text, keep its outputs
    python tools/book.py html            # status page + jupyter-book build (renders recorded outputs)
    python tools/book.py build [--all] [--profile P]   # run, then html
    python tools/book.py status          # only (re)write chapters/status.md
    python tools/book.py list            # sections in _toc.yml order
    python tools/book.py new PART NAME --lecture N [--title T]  # a new section from chapters/_template.md
    python tools/book.py pdf [SECTION ...]  # the PDF edition from the recorded notebooks (tools/pdf/)
    python tools/book.py run --shard K/N    # group K of N, balanced by run time; collect A.tar B.tar merges (tools/shard.py)

A section is ``chapters/<part>/<name>.md`` (the source people edit). ``run`` converts it with
jupytext, executes it with papermill (profile via $D2L_PROFILE, cwd = the chapter folder) and
writes the executed notebook to ``<name>.ipynb`` beside it, with profile, device, durations and
final metrics in ``metadata.d2l``. Without ``--all`` only sections whose ``.md`` changed since
their last recorded run, or that use a d2lutils module changed since then, are executed (the
modules a section uses — its ``d2l.<name>`` references, followed through the package's own
imports — and their sha256 are kept in ``metadata.d2l.helpers_sha256``; a notebook recorded
without that field counts as up to date). A failing cell fails the run and names the section; the
old ``.ipynb`` is then left untouched. A section keeps the profile and device class of its recording:
a ``full`` or GPU recording is never replaced by a cheaper run unless ``--force`` is given.
"""
# This file is the command line only; each job lives in a module of tools/booklib/. The public names are
# re-exported, so ``import book`` / ``book.X`` keep working. To replace one in a test, patch the module
# that defines it (e.g. booklib.toc.toc_sections, booklib.paths.ROOT): the modules read each other's
# names through the module at call time.
from __future__ import annotations

import argparse
import sys

import booklib.status
import booklib.toc
from booklib.facts import (FACT_TAG, METRIC_RE, PPL_RE, SEQ_LOSS_RE, SETUP_RE, SPEED_RE,  # noqa: F401
                           body_cells, cpu_facts, notebook_text, pop_fact_cells, printed_runs, read_run_facts,
                           recorded_metrics_printed, with_fact_cells)
from booklib.html import cmd_html
from booklib.new import TEMPLATE, cmd_new, new_section  # noqa: F401
from booklib.paths import HELPERS, ROOT  # noqa: F401
from booklib.repository import REPO_RE, cmd_set_repo, repository_url, repository_url_files  # noqa: F401
from booklib.retext import COLAB_GUARD, cmd_retext, retext  # noqa: F401
from booklib.run import (choose_profile, clean_cell_metadata, cmd_run, default_threads, execute,  # noqa: F401
                         keep_failed, run_notebook)
from booklib.staleness import (changed_helpers, code_of, costly_recording, helper_hashes,  # noqa: F401
                               helper_index, helper_modules, helpers_changed_since_costly_recording,
                               recorded, sha256, stale_reason, up_to_date)
from booklib.status import cmd_status, write_status  # noqa: F401
from booklib.toc import cmd_list, resolve, toc_sections  # noqa: F401

COMMANDS = {"run": cmd_run, "html": cmd_html, "retext": cmd_retext, "set-repo": cmd_set_repo, "new": cmd_new,
            "status": cmd_status, "list": cmd_list}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("run", "build"):
        p = sub.add_parser(name)
        p.add_argument("sections", nargs="*", help="chapters/<part>/<name>.md (default: all in _toc.yml)")
        p.add_argument("--all", action="store_true", help="execute every section, changed or not")
        p.add_argument("--profile", default=None, help="auto | quick | full (default: $D2L_PROFILE or auto)")
        p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
        p.add_argument("--force", action="store_true",
                       help="replace full-profile or GPU recordings even with a cheaper run")
        p.add_argument("--shard", default=None, metavar="K/N",
                       help="only group K of N, balanced by recorded run time (tools/shard.py)")
    p = sub.add_parser("set-repo", help="change the repository URL everywhere (Colab cells, hub.py, README)")
    p.add_argument("url")
    p = sub.add_parser("retext", help="carry prose-only edits into the notebook without executing")
    p.add_argument("sections", nargs="+")
    p = sub.add_parser("new", help="start a section from chapters/_template.md")
    p.add_argument("part", help="folder under chapters/, e.g. linear-networks")
    p.add_argument("name", help="section file name without .md, e.g. weight-decay")
    p.add_argument("--lecture", type=int, required=True, help="course lecture number")
    p.add_argument("--title", default=None, help="the section's heading (default: NAME)")
    sub.add_parser("html")
    sub.add_parser("status")
    sub.add_parser("list")
    from pdf.cli import add_parser as add_pdf_parser
    from shard import add_collect_parser
    add_pdf_parser(sub)
    add_collect_parser(sub)
    args = parser.parse_args(argv)
    if args.cmd == "pdf":
        from pdf.cli import cmd_pdf
        return cmd_pdf(args, booklib.toc.resolve, booklib.toc.toc_sections, booklib.status.write_status)
    if args.cmd == "collect":
        from shard import cmd_collect
        return cmd_collect(args, booklib.status.write_status)
    if args.cmd == "build":
        rc = cmd_run(args)
        return rc or cmd_html(args)
    return COMMANDS[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
