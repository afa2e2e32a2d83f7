"""cpu.choose_threads (free cores), facts (structured run facts), progress (one D2L_PROGRESS policy)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

import d2lutils as d2l
from d2lutils import cpu, facts
from d2lutils.progress import progress_enabled


def _skip_if_saturated(baseline: float) -> None:
    if baseline > cpu.available_cores() - 1.2:
        pytest.skip(f"the machine is already busy ({baseline:.1f} cores used elsewhere): cannot measure")


def test_busy_core_beside_us_is_seen_and_left_free():
    idle = cpu.busy_cores_elsewhere(0.3)
    _skip_if_saturated(idle)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        loaded = cpu.busy_cores_elsewhere(0.5)
        chosen = cpu.choose_threads(max_threads=cpu.available_cores(), interval=0.5)
    finally:
        busy.kill()
        busy.wait()
    assert loaded >= idle + 0.6, (idle, loaded)
    assert 1 <= chosen <= max(1, cpu.available_cores() - 1)


def test_own_work_does_not_count_as_other_load():
    import threading
    baseline = cpu.busy_cores_elsewhere(0.4)
    _skip_if_saturated(baseline)
    stop = time.perf_counter() + 0.6
    t = threading.Thread(target=lambda: [None for _ in iter(lambda: time.perf_counter() < stop, False)])
    t.start()
    own_busy = cpu.busy_cores_elsewhere(0.4)
    t.join()
    assert own_busy < baseline + 0.6, (baseline, own_busy)


def test_setup_uses_explicit_threads_and_records_facts(monkeypatch, capsys):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("D2L_NUM_THREADS", raising=False)
        d2l.setup("quick", threads=1)
        assert torch.get_num_threads() == 1
        assert "threads=1" in capsys.readouterr().out
        assert facts.current()["setup"] == {"profile": "quick", "device": "cpu",
                                            "torch": torch.__version__, "threads": "1"}
    finally:
        torch.set_num_threads(before)


def test_only_the_first_run_before_the_exercises_is_the_headline():
    facts.reset()
    facts.record_metrics(test_acc=0.8)
    facts.record_metrics(test_acc=0.9)
    facts.freeze()
    facts.record_metrics(test_acc=0.99)
    assert facts.current()["metrics"] == {"test_acc": 0.8}
    facts.reset()
    facts.freeze()
    facts.record_metrics(test_acc=0.5)
    assert "metrics" not in facts.current()
    facts.reset()
    facts.record_metrics(train_loss=float("nan"))
    assert facts.current()["metrics"] == {"train_loss": None}


def test_train_ch6_records_its_result():
    facts.reset()
    X = torch.randn(64, 1, 8, 8)
    y = torch.randint(0, 2, (64,))
    it = d2l.load_array((X, y), 32)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    h = d2l.train_ch6(net, it, it, 1, 0.1, torch.device("cpu"), animate=False)
    m = facts.current()["metrics"]
    assert m["test_acc"] == h.test_acc[-1] and m["train_loss"] == h.train_loss[-1]
    assert m["examples_per_sec"] == h.examples_per_sec > 0


def test_train_ch6_refuses_an_lr_its_optimizer_does_not_use():
    net = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    with pytest.raises(ValueError, match="lr=None"):
        d2l.train_ch6(net, [], [], 1, 0.1, torch.device("cpu"), optimizer=opt, animate=False)


@pytest.mark.parametrize("value, expected", [("0", False), ("", False), ("off", False), ("No", False),
                                             ("1", True), ("yes", True)])
def test_one_progress_policy(monkeypatch, value, expected):
    monkeypatch.setenv("D2L_PROGRESS", value)
    assert progress_enabled() is expected
    assert progress_enabled(True) is True


def test_progress_default_is_off_in_ci(monkeypatch):
    monkeypatch.delenv("D2L_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "true")
    assert progress_enabled() is False


def test_choose_threads_from_sampled_jiffies(monkeypatch):
    """The arithmetic, with /proc/stat replaced: another process keeping 1 of 2 cores busy leaves 1 thread."""
    samples = iter([(1000, 4000), (1000 + 100, 4000 + 200)])  # (busy, total): 50 % of 2 cores over the sample
    monkeypatch.setattr(cpu, "_cpu_jiffies", lambda: next(samples))
    monkeypatch.setattr(cpu.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cpu, "available_cores", lambda: 2)
    import types
    clock = {"wall": 0.0}

    def sleep(seconds):
        clock["wall"] += seconds
    monkeypatch.setattr(cpu, "time", types.SimpleNamespace(sleep=sleep, perf_counter=lambda: clock["wall"],
                                                           process_time=lambda: 0.0))
    assert cpu.choose_threads(max_threads=2) == 1
    samples = iter([(1000, 4000), (1000 + 5, 4000 + 200)])  # idle machine
    monkeypatch.setattr(cpu, "_cpu_jiffies", lambda: next(samples))
    assert cpu.choose_threads(max_threads=2) == 2
    samples = iter([(1000, 4000), (1000 + 200, 4000 + 200)])  # both cores busy elsewhere: still 1
    monkeypatch.setattr(cpu, "_cpu_jiffies", lambda: next(samples))
    assert cpu.choose_threads(max_threads=2) == 1
    monkeypatch.setattr(cpu, "_cpu_jiffies", lambda: None)  # not Linux: torch's default
    assert cpu.choose_threads(max_threads=2) == 2
