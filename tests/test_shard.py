"""Executing the book on several machines (tools/shard.py): balanced groups, and a merge that never
replaces a better recording."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
import shard  # noqa: E402


def test_shard_spec_is_checked():
    assert shard.parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "1", "a/b", ""):
        with pytest.raises(SystemExit, match="K/N"):
            shard.parse_shard(bad)


def test_groups_are_balanced_and_cover_every_section_once():
    sections = [Path(f"s{i}.md") for i in range(9)]
    seconds = dict(zip(sections, [300, 5, 90, 60, 60, 30, 10, 8, 7]))
    groups = shard.split(sections, 3, seconds)
    assert sorted(s for g in groups for s in g) == sorted(sections)
    totals = [sum(seconds[s] for s in g) for g in groups]
    assert totals[0] == 300  # the long section alone; the rest share the other two machines
    assert abs(totals[1] - totals[2]) <= 10
    assert all(g == sorted(g, key=sections.index) for g in groups)  # reading order inside a group
    assert shard.split(sections, 3, seconds) == groups  # every machine computes the same split


def test_the_book_splits_by_recorded_time():
    sections = book.toc_sections()
    seconds = shard.recorded_seconds(sections)
    groups = shard.split(sections, 4, seconds)
    assert sorted(map(str, (s for g in groups for s in g))) == sorted(map(str, sections))
    totals = [sum(seconds[s] for s in g) for g in groups]
    assert max(totals) - min(totals) <= max(seconds.values())
    assert shard.pick(sections, "3/4") == groups[2]


# --- collect -----------------------------------------------------------------------------------------

def _section(root: Path, name: str = "a", text: str = "# A\n") -> Path:
    md = root / "chapters" / "part" / f"{name}.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text, encoding="utf-8")
    return md


def _nb(md: Path, **meta) -> bytes:
    d2l = {"source_sha256": hashlib.sha256(md.read_bytes()).hexdigest(), "profile": "quick", "device": "cpu",
           "executed": "2026-12-01", "duration_s": 5.0, **meta}
    nb = {"cells": [], "metadata": {"d2l": d2l}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb).encode("utf-8")


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("current, incoming, why", [
    ({"profile": "full"}, {"profile": "quick"}, "full"),
    ({"device": "cuda:0"}, {"device": "cpu"}, "CUDA"),
    ({"executed": "2026-12-05"}, {"executed": "2026-12-01"}, "older"),
    ({}, {"source_sha256": "0" * 64}, "another version"),
])
def test_collect_refuses_a_downgrade_and_writes_nothing(tmp_path, current, incoming, why):
    a, b = _section(tmp_path, "a"), _section(tmp_path, "b")
    a.with_suffix(".ipynb").write_bytes(_nb(a, **current))
    before = a.with_suffix(".ipynb").read_bytes()
    archive = _tar(tmp_path / "m.tar", {"chapters/part/b.ipynb": _nb(b),  # fine on its own
                                        "chapters/part/a.ipynb": _nb(a, **incoming)})
    chosen, refused, _ = shard.plan_collect([archive], tmp_path)
    assert len(refused) == 1 and why in refused[0] and "a.ipynb" in refused[0]
    assert shard.collect([archive], tmp_path) == 1
    assert a.with_suffix(".ipynb").read_bytes() == before and not b.with_suffix(".ipynb").exists()
    assert shard.collect([archive], tmp_path, force=True) == 0
    assert a.with_suffix(".ipynb").read_bytes() == _nb(a, **incoming)


def test_collect_takes_upgrades_and_new_sections(tmp_path):
    a, b, c = (_section(tmp_path, n) for n in "abc")
    a.with_suffix(".ipynb").write_bytes(_nb(a))
    b.with_suffix(".ipynb").write_bytes(_nb(b, executed="2026-11-01"))
    cpu = _tar(tmp_path / "cpu.tar", {"chapters/part/b.ipynb": _nb(b), "chapters/part/c.ipynb": _nb(c),
                                      "failed/x.failed.ipynb": b"{}"})
    gpu = _tar(tmp_path / "gpu.tar", {"./chapters/part/a.ipynb": _nb(a, profile="full", device="cuda:0")})
    assert shard.collect([cpu, gpu], tmp_path) == 0
    assert json.loads(a.with_suffix(".ipynb").read_text())["metadata"]["d2l"]["device"] == "cuda:0"
    assert json.loads(b.with_suffix(".ipynb").read_text())["metadata"]["d2l"]["executed"] == "2026-12-01"
    assert c.with_suffix(".ipynb").is_file()
    # a second archive with a cheaper recording of the same notebook is compared with the first's
    cheap = _tar(tmp_path / "cheap.tar", {"chapters/part/a.ipynb": _nb(a)})
    _, refused, _ = shard.plan_collect([gpu, cheap], tmp_path)
    assert refused and "cheap.tar" in refused[0]


def test_collect_refuses_paths_outside_the_chapters(tmp_path):
    _section(tmp_path, "a")
    archive = _tar(tmp_path / "evil.tar", {"../outside.ipynb": b"{}", "chapters/part/a.md": b"# changed",
                                           "chapters/part/zz.ipynb": b"{}"})
    _, refused, _ = shard.plan_collect([archive], tmp_path)
    assert len(refused) == 3
    assert shard.collect([archive], tmp_path) == 1
    assert not (tmp_path.parent / "outside.ipynb").exists()
    assert (tmp_path / "chapters/part/a.md").read_text() == "# A\n"


def test_pack_writes_what_collect_reads(tmp_path):
    a = _section(tmp_path, "a")
    a.with_suffix(".ipynb").write_bytes(_nb(a, profile="full"))
    out = tmp_path / "shard.tar"
    assert shard.pack([a.with_suffix(".ipynb"), tmp_path / "chapters/part/missing.ipynb"], out, tmp_path) == 1
    with tarfile.open(out) as tar:
        assert tar.getnames() == ["chapters/part/a.ipynb"]


# --- two machines give what one gives ----------------------------------------------------------------

# two of the fastest sections (about 6 s each to record), outputs that do not depend on timing
ROUND_TRIP = ["chapters/preface/introduction.md", "chapters/preliminaries/linear-algebra.md"]
VOLATILE = re.compile(r"\d+(\.\d+)? ?(s|秒|ms)\b|0x[0-9a-f]+")


def _copy(dest: Path) -> list[Path]:
    out = []
    for rel in ROUND_TRIP:
        src = ROOT / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
        shutil.copy(src.with_suffix(".ipynb"), target.with_suffix(".ipynb"))  # the split reads its duration
        out.append(target)
    return out


def _run(*args: str) -> subprocess.CompletedProcess:
    """``book.py run --all ARGS`` in a process of its own, as on another machine."""
    return subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "run", "--all", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def _comparable(nb_path: Path) -> dict:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    cells = [(c["cell_type"], c["source"], VOLATILE.sub("T", json.dumps(c.get("outputs", []), ensure_ascii=False)))
             for c in nb["cells"]]
    meta = {k: v for k, v in nb["metadata"]["d2l"].items() if k not in ("duration_s", "executed")}
    return {"cells": cells, "d2l": meta}


@pytest.mark.slow
def test_two_shards_in_two_processes_record_what_one_run_records(tmp_path):
    # one checkout per machine: a shard's run updates its recorded durations, which must not change the
    # split that another machine computes from its own checkout
    one, two_a, two_b = (_copy(tmp_path / name) for name in ("one", "two_a", "two_b"))
    runs = [_run(*map(str, one)), _run("--shard", "1/2", *map(str, two_a)), _run("--shard", "2/2", *map(str, two_b))]
    logs = [r.stdout + r.stderr for r in runs]
    assert [p.returncode for p in runs] == [0, 0, 0], "\n".join(logs)
    # each shard ran exactly one of the two sections, and together they ran both
    assert [log.count("▶ 执行") for log in logs] == [2, 1, 1], logs
    for a, in_a, in_b in zip(one, two_a, two_b):
        ran = [b for b, log in ((in_a, logs[1]), (in_b, logs[2])) if str(b) in log]
        assert len(ran) == 1, (a.name, logs[1:])
        assert _comparable(a.with_suffix(".ipynb")) == _comparable(ran[0].with_suffix(".ipynb")), a.name
