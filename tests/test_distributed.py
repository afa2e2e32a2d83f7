"""The torchrun launcher of lectures 34/35 (command line and environment; no processes started)."""
from __future__ import annotations

import sys

import pytest

import d2lutils as d2l


def test_torchrun_command():
    cmd = d2l.torchrun_command("/tmp/x.py", 2, ["a", 3])
    assert cmd[0] == sys.executable and cmd[1:3] == ["-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc_per_node=2" in cmd
    assert cmd[-3:] == ["/tmp/x.py", "a", "3"]
    with pytest.raises(ValueError):
        d2l.torchrun_command("/tmp/x.py", 0)


def test_torchrun_env_sets_threads():
    env = d2l.torchrun_env(2, {"FOO": "bar"})
    assert env["OMP_NUM_THREADS"] == "2" and env["FOO"] == "bar"
    assert "PATH" in env  # keeps the parent's environment


def test_run_torchrun_reports_failure(monkeypatch):
    class Done:
        returncode, stdout, stderr = 1, "", "line1\nValueError: boom"
    monkeypatch.setattr(d2l.distributed.subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(RuntimeError, match="boom"):
        d2l.run_torchrun("/tmp/x.py", 2)
    Done.returncode, Done.stdout = 0, "rank0 says hi\n"
    assert d2l.run_torchrun("/tmp/x.py", 2) == "rank0 says hi\n"
