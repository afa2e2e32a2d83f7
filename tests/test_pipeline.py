"""tools/book.py executes a section into its paired notebook, or fails naming it."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
from booklib import toc  # noqa: E402

SECTION = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
lectures: [99]
---

# 测试

```{code-cell} ipython3
:tags: [parameters]

profile = None
```

```{code-cell} ipython3
import d2lutils as d2l
cfg = d2l.setup(profile)
print("训练损失 0.500, 训练精度 0.800, 测试精度 0.700")
print(BODY)
```
"""


def write(tmp_path: Path, body: str) -> Path:
    md = tmp_path / "sec.md"
    md.write_text(SECTION.replace("BODY", body), encoding="utf-8")
    return md


def test_run_writes_executed_notebook_with_metadata(tmp_path, capsys):
    md = write(tmp_path, "cfg.pick(quick='Q', full='F')")
    assert book.main(["run", "--profile", "full", str(md)]) == 0
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    meta = nb.metadata["d2l"]
    assert meta["profile"] == "full" and meta["device"] in ("cpu", "cuda:0")
    assert meta["metrics"]["test_acc"] == 0.7 and meta["duration_s"] > 0
    assert meta["source_sha256"] == book.sha256(md)
    # d2l.setup lives in config.py: its hash (and its imports') is recorded for staleness checks
    assert meta["helpers_sha256"]["d2lutils/config.py"] == book.sha256(ROOT / "d2lutils" / "config.py")
    text = book.notebook_text(nb.cells)
    assert "运行配置：profile=full" in text and "\nF\n" in text
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all("duration" in c.metadata["papermill"] for c in code)
    assert book.up_to_date(md, None) and not book.up_to_date(md, "quick")


def test_failing_cell_fails_the_run_and_keeps_the_old_notebook(tmp_path, capsys):
    md = write(tmp_path, "1")
    assert book.main(["run", str(md)]) == 0
    before = md.with_suffix(".ipynb").read_bytes()
    write(tmp_path, "undefined_name")
    assert book.main(["run", str(md)]) == 1
    out = capsys.readouterr().out
    assert "sec.md" in out and "NameError" in out
    assert md.with_suffix(".ipynb").read_bytes() == before


def test_unknown_profile_is_rejected(tmp_path):
    md = write(tmp_path, "1")
    import pytest
    with pytest.raises(ValueError, match="quick、full 或 auto"):
        book.main(["run", "--profile", "fastest", str(md)])


def test_full_recording_is_kept_unless_forced(tmp_path, capsys):
    """A full-profile recording survives a plain re-run and --profile quick; --force replaces it."""
    md = write(tmp_path, "cfg.pick(quick='Q', full='F')")
    nb_path = md.with_suffix(".ipynb")
    assert book.main(["run", "--profile", "full", str(md)]) == 0
    assert book.main(["run", str(md)]) == 0  # what `run --all` does for this section on a CPU
    assert nbformat.read(nb_path, as_version=4).metadata["d2l"]["profile"] == "full"
    before = nb_path.read_bytes()
    assert book.main(["run", "--profile", "quick", str(md)]) == 0
    assert "--force" in capsys.readouterr().out
    assert nb_path.read_bytes() == before
    assert book.main(["run", "--profile", "quick", "--force", str(md)]) == 0
    nb = nbformat.read(nb_path, as_version=4)
    assert nb.metadata["d2l"]["profile"] == "quick" and "\nQ\n" in book.notebook_text(nb.cells)


def test_gpu_recording_is_not_replaced_from_a_cpu(tmp_path, capsys, monkeypatch):
    md = write(tmp_path, "1")
    nb_path = md.with_suffix(".ipynb")
    assert book.main(["run", "--profile", "full", str(md)]) == 0
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata["d2l"]["device"] = "cuda:0"  # as if recorded on a GPU
    nbformat.write(nb, nb_path)
    before = nb_path.read_bytes()
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert book.main(["run", "--profile", "full", str(md)]) == 0
    assert "CUDA" in capsys.readouterr().out and nb_path.read_bytes() == before
    assert book.choose_profile(md, None, "quick", force=False, have_cuda=True) == ("full", "")
    assert book.choose_profile(md, "quick", "quick", force=True, have_cuda=False) == ("quick", "")


def test_retext_updates_prose_but_refuses_code_changes(tmp_path):
    md = write(tmp_path, "1")
    nb_path = md.with_suffix(".ipynb")
    assert book.main(["run", str(md)]) == 0
    outputs = [c.outputs for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code"]
    md.write_text(md.read_text(encoding="utf-8").replace("# 测试", "# 测试\n\n新加的一段文字。"), encoding="utf-8")
    assert book.main(["retext", str(md)]) == 0
    nb = nbformat.read(nb_path, as_version=4)
    assert "新加的一段文字" in "".join(c.source for c in nb.cells)
    assert [c.outputs for c in nb.cells if c.cell_type == "code"] == outputs
    assert book.up_to_date(md, None)
    md.write_text(md.read_text(encoding="utf-8").replace("print(1)", "print(2)"), encoding="utf-8")
    before = nb_path.read_bytes()
    assert book.main(["retext", str(md)]) == 1
    assert nb_path.read_bytes() == before and not book.up_to_date(md, None)


def test_an_empty_figure_fails_the_run(tmp_path, capsys):
    """A plot whose data never reaches the axes warns on stderr; run reports it and writes nothing."""
    md = write(tmp_path, "1")
    md.write_text(md.read_text(encoding="utf-8").replace(
        "print(1)", "from matplotlib import pyplot as plt\nax = plt.subplots()[1]\nax.set_xlim(0, 1)\n"
        "ax.set_ylim(0, 1)\nax.scatter([5, 6], [5, 6]);"), encoding="utf-8")
    assert book.main(["run", str(md)]) == 1
    out = capsys.readouterr().out
    assert "stderr" in out and "empty axes" in out
    assert not md.with_suffix(".ipynb").exists()


def test_rerun_keeps_cell_ids_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import glob
    import tempfile
    md = write(tmp_path, "1")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))   # only this test's temporaries land here
    before = set(glob.glob(str(Path(tempfile.gettempdir()) / "d2lbook-*")))
    assert before == set()
    assert book.main(["run", str(md)]) == 0
    ids = [c.id for c in nbformat.read(md.with_suffix(".ipynb"), as_version=4).cells]
    assert book.main(["run", str(md)]) == 0
    assert [c.id for c in nbformat.read(md.with_suffix(".ipynb"), as_version=4).cells] == ids
    assert set(glob.glob(str(Path(tempfile.gettempdir()) / "d2lbook-*"))) == before


def test_invalid_front_matter_names_the_file_and_spares_the_others(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.md"
    bad.write_text("---\njupytext: [unclosed\nlectures: [1]\n---\n\n# 坏的头部\n", encoding="utf-8")
    ok, msg = book.execute(bad, "quick", 60)
    assert not ok and "bad.md" in msg
    good = write(tmp_path, "1")
    monkeypatch.setattr(toc, "toc_sections", lambda: [bad, good])
    page = book.write_status(tmp_path / "status.md").read_text(encoding="utf-8")   # does not raise
    assert "bad.md" in capsys.readouterr().out and "坏的头部" in page


def test_retext_accepts_a_changed_colab_install_cell(tmp_path):
    md = write(tmp_path, "1")
    md.write_text(md.read_text(encoding="utf-8").replace(
        "```{code-cell} ipython3\nimport d2lutils", "```{code-cell} ipython3\nimport sys\n"
        "if \"google.colab\" in sys.modules:\n    print(\"old\")\n```\n\n```{code-cell} ipython3\nimport d2lutils"),
        encoding="utf-8")
    assert book.main(["run", str(md)]) == 0
    md.write_text(md.read_text(encoding="utf-8").replace('print("old")', 'print("new")'), encoding="utf-8")
    assert book.main(["retext", str(md)]) == 0
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert 'print("new")' in nb.cells[2].source and book.up_to_date(md, None)
