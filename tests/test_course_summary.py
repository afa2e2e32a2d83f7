"""The results table of the course summary (lecture 73) is read from the recorded notebooks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from d2lutils import results

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "chapters" / "optimization" / "course-summary.ipynb"


def recorded_table() -> str:
    """The Markdown results table in the recorded course-summary notebook."""
    nb = nbformat.read(SUMMARY, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown", "")
            if text.startswith(results.HEADER):
                return text
    raise AssertionError("course-summary.ipynb shows no results table: run tools/book.py run on it")


def test_recorded_summary_table_matches_every_notebook():
    """Fails when a section was re-recorded after the summary: re-run course-summary (last)."""
    problems = results.table_mismatches(recorded_table(), ROOT)
    assert not problems, "\n".join(problems[:10])


def test_table_numbers_are_the_metadata_numbers():
    """Independent of results.py: each accuracy in the table equals the notebook's metadata.d2l."""
    rows = results.parse_results_table(results.results_table(results.headline_results(ROOT)))
    accuracies = [r for r in rows if r[1] == "测试精度"]
    assert len(accuracies) >= 10
    for section, _, value, profile, device in accuracies:
        meta = json.loads((ROOT / "chapters" / f"{section}.ipynb").read_text(encoding="utf-8"))["metadata"]["d2l"]
        assert value == f"{meta['metrics']['test_acc']:.3f}" and profile == meta["profile"] and device == meta["device"]


def test_a_changed_or_missing_number_is_reported():
    table = results.results_table(results.headline_results(ROOT))
    lines = table.splitlines()
    row = next(i for i, line in enumerate(lines) if "| 测试精度 |" in line)
    cells = lines[row].split("|")
    cells[4] = " 0.123 " if cells[4].strip() != "0.123" else " 0.321 "
    tampered = "\n".join(lines[:row] + ["|".join(cells)] + lines[row + 1:])
    assert any("0.123" in p or "0.321" in p for p in results.table_mismatches(tampered, ROOT))
    dropped = "\n".join(lines[:row] + lines[row + 1:])
    assert results.table_mismatches(dropped, ROOT), "a row missing from the table must be reported"
    assert results.table_mismatches(table, ROOT) == []


def test_rerecorded_section_makes_the_table_stale(tmp_path):
    """Copy the book's toc and one notebook, change its accuracy: the old table no longer matches."""
    (tmp_path / "chapters" / "modern-cnn").mkdir(parents=True)
    src = ROOT / "chapters" / "modern-cnn" / "resnet.ipynb"
    dst = tmp_path / "chapters" / "modern-cnn" / "resnet.ipynb"
    shutil.copy(src, dst)
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: chapters/index\nparts:\n  - caption: 现代卷积神经网络\n    chapters:\n"
        "      - file: chapters/modern-cnn/index\n        sections:\n          - file: chapters/modern-cnn/resnet\n",
        encoding="utf-8")
    table = results.results_table(results.headline_results(tmp_path))
    assert "测试精度" in table and results.table_mismatches(table, tmp_path) == []
    nb = json.loads(dst.read_text(encoding="utf-8"))
    nb["metadata"]["d2l"]["metrics"]["test_acc"] = 0.0123
    dst.write_text(json.dumps(nb), encoding="utf-8")
    assert results.table_mismatches(table, tmp_path)


def test_glued_numbers_and_book_root():
    nb = {"cells": [{"outputs": [
        {"data": {"application/papermill.record/text/plain": "0.9145"},
         "metadata": {"scrapbook": {"name": "seq2seq-bleu-mean"}}},
        {"data": {"application/papermill.record/text/plain": "'quick'"},
         "metadata": {"scrapbook": {"name": "x-profile"}}}]}]}
    assert results.glued_values(nb) == {"seq2seq-bleu-mean": 0.9145}
    assert results.find_book_root(ROOT / "chapters" / "optimization") == ROOT
    with pytest.raises(FileNotFoundError, match="_toc.yml"):
        results.headline_results(ROOT / "chapters")
