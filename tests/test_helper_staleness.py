"""A change to a d2lutils module marks exactly the sections that use it out of date (tools/book.py).

Fast: a small helper package and hand-made recordings in tmp_path, nothing is executed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
from booklib import paths, run, status, toc  # noqa: E402

PACKAGE = {
    "__init__.py": "from .config import setup\nfrom .train import train_ch3, Accumulator\n"
                   "from .conv import corr2d\nfrom . import extra\n",
    "config.py": "def setup(profile=None):\n    return profile\n",
    "utils.py": "class Accumulator:\n    pass\n",
    "train.py": "from .utils import Accumulator\n\ndef train_ch3():\n    return Accumulator()\n",
    "conv.py": "def corr2d(X, K):\n    return X\n",
    "extra.py": "def later():\n    from d2lutils.conv import corr2d\n    return corr2d\n",
}
SECTIONS = {  # section -> its code
    "plain": "import d2lutils as d2l\ncfg = d2l.setup(profile)\nprint(1)",
    "trains": "import d2lutils as d2l\ncfg = d2l.setup(profile)\nd2l.train_ch3()",
    "convs": "from d2lutils import (setup,\n    corr2d as c2)\ncfg = setup(None)",
    "extras": "import d2lutils as d2l\nd2l.extra.later()",
}


@pytest.fixture
def helpers(tmp_path, monkeypatch) -> Path:
    pkg = tmp_path / "d2lutils"
    pkg.mkdir()
    for name, text in PACKAGE.items():
        (pkg / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "HELPERS", pkg)
    return pkg


def record(tmp_path: Path, name: str, code: str, with_helpers: bool = True) -> Path:
    """A section .md and its recording as `run` leaves them (metadata only, no execution)."""
    md = tmp_path / "chapters" / "part" / f"{name}.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(f"# {name}\n\n```{{code-cell}} ipython3\n{code}\n```\n", encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                                         nbformat.v4.new_code_cell(code)])
    nb.metadata["d2l"] = {"source_sha256": book.sha256(md), "profile": "quick", "device": "cpu"}
    if with_helpers:
        nb.metadata["d2l"]["helpers_sha256"] = book.helper_hashes(code)
    nbformat.write(nb, md.with_suffix(".ipynb"))
    return md


def test_modules_a_section_uses(helpers):
    assert book.helper_modules(SECTIONS["plain"]) == ["config"]
    assert book.helper_modules(SECTIONS["trains"]) == ["config", "train", "utils"]  # train imports utils
    assert book.helper_modules(SECTIONS["convs"]) == ["config", "conv"]
    assert book.helper_modules(SECTIONS["extras"]) == ["conv", "extra"]  # import inside a function
    assert set(book.helper_hashes(SECTIONS["trains"])) == {"d2lutils/config.py", "d2lutils/train.py",
                                                           "d2lutils/utils.py"}


@pytest.mark.parametrize("edited, stale", [
    ("utils.py", {"trains"}),
    ("conv.py", {"convs", "extras"}),
    ("config.py", {"plain", "trains", "convs"}),
    ("__init__.py", set()),  # exporting one more name changes no helper's code
])
def test_editing_a_helper_marks_exactly_its_users_stale(helpers, tmp_path, edited, stale):
    sections = {name: record(tmp_path, name, code) for name, code in SECTIONS.items()}
    assert all(book.up_to_date(md, None) for md in sections.values())
    with open(helpers / edited, "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    assert {name for name, md in sections.items() if not book.up_to_date(md, None)} == stale
    for name in stale:
        assert f"d2lutils/{edited}" in book.stale_reason(sections[name])


def test_run_reexecutes_stale_sections_and_status_shows_them(helpers, tmp_path, monkeypatch, capsys):
    sections = {name: record(tmp_path, name, code) for name, code in SECTIONS.items()}
    sections["old"] = record(tmp_path, "old", SECTIONS["trains"], with_helpers=False)
    (helpers / "train.py").write_text(PACKAGE["train.py"] + "\n# changed\n", encoding="utf-8")
    executed = []
    monkeypatch.setattr(toc, "toc_sections", lambda: list(sections.values()))
    monkeypatch.setattr(run, "execute", lambda md, profile, timeout: (executed.append(md.stem), (True, "ok"))[1])
    monkeypatch.setattr(status, "write_status", lambda out=None: tmp_path / "status.md")
    assert book.main(["run"]) == 0
    # "old" was recorded before helpers_sha256 existed: unknown counts as up to date
    assert executed == ["trains"]
    assert "d2lutils/train.py" in capsys.readouterr().out
    assert book.main(["status"]) == 0
    lines = {Path(line.split()[0]).stem: line for line in capsys.readouterr().out.splitlines()
             if line.startswith(str(tmp_path))}
    assert "过期" in lines["trains"] and "d2lutils/train.py" in lines["trains"]
    assert "过期" not in lines["plain"] and "过期" not in lines["old"]


def test_retext_keeps_the_helper_hashes(helpers, tmp_path):
    md = record(tmp_path, "trains", SECTIONS["trains"])
    before = nbformat.read(md.with_suffix(".ipynb"), as_version=4).metadata["d2l"]["helpers_sha256"]
    md.write_text(md.read_text(encoding="utf-8").replace("# trains", "# trains\n\n新的文字。"), encoding="utf-8")
    ok, msg = book.retext(md)
    assert ok, msg
    assert nbformat.read(md.with_suffix(".ipynb"), as_version=4).metadata["d2l"]["helpers_sha256"] == before
    assert book.up_to_date(md, None)


def test_the_books_own_helpers_are_traced():
    """On the real package: a training section depends on train.py and what it imports, not on bert.py."""
    mods = book.helper_modules("import d2lutils as d2l\ncfg = d2l.setup(profile)\nd2l.train_ch6(net, *data)")
    assert {"config", "train", "utils"} <= set(mods) and "bert" not in mods
    assert book.helper_modules("print('no helpers')") == []
