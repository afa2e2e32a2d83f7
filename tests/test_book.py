"""The book's sources: every section is a MyST notebook paired with an executed, up-to-date .ipynb."""
from __future__ import annotations

import hashlib
import re
import tempfile
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402  (tools/book.py)

SECTIONS = book.toc_sections()
IDS = [str(p.relative_to(ROOT / "chapters")) for p in SECTIONS]


def front_matter(md: Path) -> dict:
    m = re.match(r"^---\n(.*?)\n---\n", md.read_text(encoding="utf-8"), re.S)
    assert m, f"{md}: no YAML front matter"
    return yaml.safe_load(m.group(1))


def test_toc_lists_sections():
    assert len(SECTIONS) >= 80, "the book's sections (lectures 01-73 and the appendix) are listed"
    assert len(set(SECTIONS)) == len(SECTIONS), "a section is listed twice in _toc.yml"


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_section_source(md: Path):
    assert md.is_file(), f"{md} is listed in _toc.yml but missing"
    fm = front_matter(md)
    assert fm["jupytext"]["text_representation"]["format_name"] == "myst"
    assert fm["kernelspec"]["name"] == "python3"
    assert "lectures" in fm and isinstance(fm["lectures"], list), "front matter needs lectures: [N]"
    nb = jupytext.read(md)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), "no `parameters` cell"
    assert any("d2l.setup(" in c.source for c in nb.cells if c.cell_type == "code"), "no d2l.setup() call"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_paired_notebook_is_executed_and_current(md: Path):
    nb_path = md.with_suffix(".ipynb")
    assert nb_path.is_file(), f"run `python tools/book.py run {md.relative_to(ROOT)}`"
    nb = nbformat.read(nb_path, as_version=4)
    src = jupytext.read(md)
    pairs = list(zip(src.cells, nb.cells))
    assert len(src.cells) == len(nb.cells), "cell count differs: re-run tools/book.py run"
    for a, b in pairs:
        assert a.cell_type == b.cell_type and a.source.strip() == b.source.strip(), \
            f"cell differs from the .md: {a.source[:60]!r}"
    meta = nb.metadata.get("d2l", {})
    digest = hashlib.sha256(md.read_bytes()).hexdigest()
    assert meta.get("source_sha256") == digest, "the .md changed after the recorded run: re-run it"
    assert meta.get("profile") in ("quick", "full") and meta.get("device"), "profile/device not recorded"
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.get("execution_count") for c in code), "some code cells were not executed"
    outputs = [o for c in code for o in c.outputs]
    assert outputs, "no recorded outputs"
    for o in outputs:
        assert o.output_type != "error", f"error output: {o.get('ename')}: {o.get('evalue')}"
        assert not (o.output_type == "stream" and o.name == "stderr"), f"stderr output: {o.text[:200]}"


def test_exercise_labels_are_unique_and_answered():
    labels: dict[str, Path] = {}
    for md in SECTIONS:
        text = md.read_text(encoding="utf-8")
        found = re.findall(r":label:\s*(ex-[\w-]+)", text)
        for label in found:
            assert label not in labels, f"{label} in {md} and {labels[label]}"
            labels[label] = md
            assert re.search(r"solution(-start)?\}\s*" + re.escape(label) + r"\b", text), \
                f"{label} in {md} has no solution"


def test_run_facts_are_read_from_outputs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("stream", name="stdout",
                               text="运行配置：profile=full, device=cuda:0, torch=2.14.1\n"),
        nbformat.v4.new_output("stream", name="stdout",
                               text="训练损失 0.469, 训练精度 0.823, 测试精度 0.779\n12345.6 样本/秒 (cuda:0)\n")])])
    facts = book.read_run_facts(nb)
    assert facts["profile"] == "full" and facts["device"] == "cuda:0"
    assert facts["metrics"] == {"train_loss": 0.469, "train_acc": 0.823, "test_acc": 0.779,
                                "examples_per_sec": 12345.6}


def test_status_page_lists_every_section(tmp_path):
    text = book.write_status(tmp_path / "status.md").read_text(encoding="utf-8")
    assert text.startswith("# 执行统计")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(SECTIONS)


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_check_markers_are_cell_tags(md: Path):
    """nbval markers are cell tags (`nbval-check-output`), not comments readers see in the code."""
    nb = jupytext.read(md)
    for c in nb.cells:
        if c.cell_type == "code":
            assert not re.search(r"^\s*#\s*NBVAL_", c.source, re.M), \
                f"use the cell tag nbval-check-output instead of a comment: {c.source[:60]!r}"


def terminology_terms() -> list[str]:
    """The Chinese terms the book uses (second column of TERMINOLOGY.md)."""
    terms = []
    for line in (ROOT / "TERMINOLOGY.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.search(r"[\u4e00-\u9fff]", cells[1]) and cells[1] != "本书用语":
            for part in re.split(r"[／/、]", re.sub(r"（.*?）|\(.*?\)", "", cells[1])):
                if re.fullmatch(r"[\u4e00-\u9fff]{2,}", part.strip()):
                    terms.append(part.strip())
    return terms


def test_search_dictionary_knows_every_term():
    """Search splits Chinese with jieba: every term of TERMINOLOGY.md is in tools/jieba_dict.txt."""
    words = {line.split()[0] for line in (ROOT / "tools" / "jieba_dict.txt").read_text(encoding="utf-8").splitlines()
             if line.strip()}
    terms = terminology_terms()
    assert len(terms) > 30
    missing = [t for t in terms if t not in words]
    assert not missing, f"add to tools/jieba_dict.txt: {missing}"


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_recorded_metrics_match_the_printed_summary(md: Path):
    """The headline metrics stored at run time equal a summary line the notebook prints now."""
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert book.recorded_metrics_printed(nb), \
        (f"recorded {nb.metadata.get('d2l', {}).get('metrics')} is not among the printed summaries "
         f"{book.printed_runs(nb)}: re-run the section instead of editing outputs")


def test_a_hand_edited_summary_no_longer_matches_the_recording():
    nb = nbformat.read(ROOT / "chapters" / "modern-cnn" / "resnet.ipynb", as_version=4)
    assert book.recorded_metrics_printed(nb)
    acc = nb.metadata.d2l.metrics["test_acc"]
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "测试精度" in out.get("text", ""):
                out["text"] = out["text"].replace(f"测试精度 {acc:.3f}", "测试精度 0.999")
    assert not book.recorded_metrics_printed(nb)            # 测试精度 0.695 → 0.999 is caught
    del nb.metadata.d2l["metrics"]
    assert not book.recorded_metrics_printed(nb)            # a summary printed but nothing stored


def test_repository_url_is_the_same_everywhere():
    """_config.yml's repository.url is the source; `book.py set-repo` rewrites the copies, this checks them."""
    url = book.repository_url()
    raw = url.replace("https://github.com/", "https://raw.githubusercontent.com/")
    for path in book.repository_url_files():
        text = path.read_text(encoding="utf-8")
        assert url in text or raw in text, f"{path} does not name {url}: run `python tools/book.py set-repo {url}`"


@pytest.mark.parametrize("md", SECTIONS, ids=IDS)
def test_recording_is_not_stale(md: Path):
    """Neither the .md nor a d2lutils module the section uses changed since the recorded run.

    One exception: a full-profile/GPU recording whose helpers changed later is kept (it cannot be redone
    on a CPU in minutes) but must be listed on the status page as waiting to be re-recorded."""
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    if book.helpers_changed_since_costly_recording(md, nb):
        page = book.write_status(out=Path(tempfile.mkdtemp()) / "status.md").read_text(encoding="utf-8")
        waiting = page.split("辅助模块更新后等待重新记录的章节", 1)
        assert len(waiting) == 2 and f"{md.parent.name}/{md.stem}>" in waiting[1], \
            f"{md.name}: helpers changed since its full/GPU recording, but the status page does not say so"
        return
    assert not book.stale_reason(md), f"{book.stale_reason(md)}: run `python tools/book.py run {md.relative_to(ROOT)}`"


def test_part_index_pages():
    """Each part with sections has chapters/<part>/index.md: plain Markdown (no front matter, no code
    cells, no notebook), titled like the part's caption, listing its sections with {tableofcontents}."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            if not chapter.get("sections"):
                continue
            index = ROOT / (chapter["file"] + ".md")
            folders = {Path(s["file"]).parent for s in chapter["sections"]}
            assert index.name == "index.md" and folders == {index.parent.relative_to(ROOT)}, index
            assert not index.with_suffix(".ipynb").exists() and index not in SECTIONS, index
            text = index.read_text(encoding="utf-8")
            assert text.startswith(f"# {part['caption']}\n"), f"{index}: the title is not the caption"
            assert "```{tableofcontents}" in text and "{code-cell}" not in text, index
            assert text.count("https://courses.d2l.ai/zh-v2/") == 1, index


def test_join_cjk_lines_keeps_spaces_next_to_latin_words():
    sys.path.insert(0, str(ROOT / "tools"))
    from d2l_sphinx import join_cjk_lines
    assert join_cjk_lines("排法不同，\n   算出的结果") == "排法不同，算出的结果"
    assert join_cjk_lines("内存顺序——\n只是“通道\n在后”") == "内存顺序——只是“通道在后”"
    assert join_cjk_lines("用 ReLU\n网络") == "用 ReLU\n网络"      # a Latin word: the break stays a space
    assert join_cjk_lines("网络\nReLU 激活") == "网络\nReLU 激活"
    assert join_cjk_lines("one\ntwo") == "one\ntwo"
