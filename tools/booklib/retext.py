"""Prose-only edits: carry a section's new text into its recorded notebook, keeping the outputs."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import paths, staleness, toc

if TYPE_CHECKING:
    from nbformat import NotebookNode

COLAB_GUARD = 'import sys\nif "google.colab" in sys.modules:'


def _is_colab_cell(cell: NotebookNode) -> bool:
    """The install cell that only acts on Colab (no outputs anywhere else)."""
    return cell.source.lstrip().startswith(COLAB_GUARD) and not cell.get("outputs")


def retext(md: Path) -> tuple[bool, str]:
    """Carry prose-only edits of ``md`` into its recorded notebook without executing anything.

    Allowed only when every code cell (source and tags) is unchanged since the recording, so the
    recorded outputs are still exactly what this code printed. Markdown cells are replaced and the
    source hash is updated; otherwise nothing is written and the reason is returned.
    """
    import jupytext
    import nbformat
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return False, "没有记录过的笔记本，请用 run 执行 (no recorded notebook: use run)"
    nb = nbformat.read(nb_path, as_version=4)
    src = jupytext.read(md)
    old_code = [c for c in nb.cells if c.cell_type == "code"]
    new_code = [c for c in src.cells if c.cell_type == "code"]
    same = len(old_code) == len(new_code) and all(
        (a.source.strip() == b.source.strip() or (_is_colab_cell(a) and _is_colab_cell(b)))
        and a.metadata.get("tags", []) == b.metadata.get("tags", [])
        for a, b in zip(old_code, new_code))
    if not same:
        return False, "代码单元格改动了，需要重新执行 (code cells changed: use run)"
    outputs = iter(old_code)
    cells = []
    for cell in src.cells:
        if cell.cell_type == "code":
            recorded = next(outputs)
            if _is_colab_cell(cell):  # it does nothing outside Colab: take the new source as it is
                recorded.source = cell.source
            cells.append(recorded)
        else:
            cell.metadata.pop("lines_to_next_cell", None)
            cells.append(cell)
    nb.cells = cells
    nb.metadata.setdefault("d2l", {})["source_sha256"] = staleness.sha256(md)
    tmp = nb_path.with_name(f".{nb_path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, nb_path)
    return True, "只更新了文字，输出保持原样 (prose updated, outputs kept)"


def cmd_retext(args: argparse.Namespace) -> int:
    """``retext SECTION ...``: retext each section; 1 when any of them has changed code."""
    rc = 0
    for spec in args.sections:
        md = toc.resolve(spec)
        ok, msg = retext(md)
        print(f"  {'✓' if ok else '✗'} {paths.relative(md)}: {msg}")
        rc |= not ok
    return rc
