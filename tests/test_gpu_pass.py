"""tools/gpu_pass.py on the CPU with tiny budgets: archive-as-you-go, deadline, failures, skips.

A stand-in ``tools/book.py`` in a temporary repository plays the sections (one records, one fails,
one hangs), so these tests check the pass's own logic in seconds without touching the book.
"""
from __future__ import annotations

import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import gpu_pass  # noqa: E402

FAKE_BOOK = r'''
import os, sys, time
from pathlib import Path
md = Path(sys.argv[-1])
name = md.stem
if name == "ok":
    md.with_suffix(".ipynb").write_text('{"recorded": true}')
elif name == "bad":
    keep = Path(os.environ["D2L_KEEP_FAILED"]); keep.mkdir(parents=True, exist_ok=True)
    (keep / "bad.failed.ipynb").write_text('{"failed": true}')
    print("AssertionError: 0.77 < 0.80"); sys.exit(1)
elif name == "slow":
    time.sleep(60)
'''


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    (repo / "tools" / "book.py").write_text(FAKE_BOOK)
    part = repo / "chapters" / "part"
    part.mkdir(parents=True)
    for name in ("ok", "bad", "slow", "late"):
        (part / f"{name}.md").write_text("# section\n")
    monkeypatch.setattr(gpu_pass, "ROOT", repo)
    return repo


def members(out: Path) -> list[str]:
    with tarfile.open(out / "recordings.tar") as tar:
        return sorted(tar.getnames())


def test_records_fails_and_stops_at_the_deadline(fake_repo, tmp_path):
    out = tmp_path / "out"
    start = time.monotonic()
    rc = gpu_pass.main(["--budget", "12", "--out", str(out), "--no-bench", "--min-section", "8",
                        "chapters/part/ok.md", "chapters/part/bad.md", "chapters/part/slow.md",
                        "chapters/part/late.md", "chapters/part/missing.md"])
    took = time.monotonic() - start
    assert rc == 0
    assert took < 15, f"the pass ran {took:.1f} s on a 12 s budget"
    assert members(out) == ["chapters/part/ok.ipynb", "failed/bad.failed.ipynb"]
    log = (out / "gpu-pass.log").read_text(encoding="utf-8")
    assert "✓ chapters/part/ok.md" in log
    assert "✗ chapters/part/bad.md: exit 1" in log and "0.77 < 0.80" in log
    assert "✗ chapters/part/slow.md: timeout" in log
    assert "skip chapters/part/late.md" in log
    assert "no such section" in log
    assert not list(out.glob(".*.tmp")), "no half-written archive left behind"


def test_tiny_budget_runs_nothing_but_still_reports(fake_repo, tmp_path):
    out = tmp_path / "out"
    assert gpu_pass.main(["--budget", "1", "--out", str(out), "--min-section", "30",
                          "chapters/part/ok.md"]) == 0
    log = (out / "gpu-pass.log").read_text(encoding="utf-8")
    assert "skip bench" in log and "skip chapters/part/ok.md" in log
    assert members(out) == []
    assert not (fake_repo / "chapters" / "part" / "ok.ipynb").exists()


def test_budget_must_be_positive(fake_repo, tmp_path):
    with pytest.raises(SystemExit):
        gpu_pass.main(["--budget", "0", "--out", str(tmp_path / "out")])
