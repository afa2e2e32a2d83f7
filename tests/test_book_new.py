"""`python tools/book.py new PART NAME --lecture N` starts a section from chapters/_template.md."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
from booklib import paths  # noqa: E402


def test_new_writes_a_valid_section(tmp_path, monkeypatch, capsys):
    import jupytext
    import nbformat
    monkeypatch.setattr(paths, "ROOT", tmp_path)  # chapters/ of a scratch book; the template stays the real one
    assert book.main(["new", "linear-networks", "weight-decay", "--lecture", "7", "--title", "权重衰减"]) == 0
    md = tmp_path / "chapters" / "linear-networks" / "weight-decay.md"
    assert "chapters/linear-networks/weight-decay.md" in capsys.readouterr().out
    text = md.read_text(encoding="utf-8")
    assert "__" not in re.sub(r"__\w+__\(", "", text), "a placeholder was left in the section"
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1))
    assert front["lectures"] == [7] and front["jupytext"]["formats"] == "ipynb,md:myst"
    assert re.search(r"^# 权重衰减$", text, re.M) and "第 07 讲" in text
    nb = jupytext.read(md)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"] and "profile = None" in code[0].source
    assert "google.colab" in code[1].source
    assert "cfg = d2l.setup(profile)" in code[2].source
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert headings[-2:] == ["## 小结", "## 练习"]  # own cells: book.body_cells() stops at ## 练习
    assert len(book.body_cells(nb.cells)) < len(nb.cells)
    assert ":label: ex-weight-decay-first" in text
    assert "```{solution-start} ex-weight-decay-first\n:class: dropdown" in text and "```{solution-end}" in text
    # the pipeline sees it as a section not run yet
    assert book.stale_reason(md).startswith("未执行")


def test_new_refuses_to_overwrite_and_bad_names(tmp_path):
    md = book.new_section("preliminaries", "x", 3, chapters=tmp_path)
    before = md.read_bytes()
    with pytest.raises(SystemExit, match="已存在"):
        book.new_section("preliminaries", "x", 4, chapters=tmp_path)
    assert md.read_bytes() == before
    with pytest.raises(SystemExit):
        book.new_section("Pre liminaries", "x", 3, chapters=tmp_path)


def test_template_is_not_part_of_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "chapters/_template.md" in config["exclude_patterns"]
    assert "_template" not in (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert book.TEMPLATE not in book.toc_sections()
