"""Profiles, setup(), devices, seeding, Timer and Accumulator."""
from __future__ import annotations

import time

import pytest
import torch

import d2lutils as d2l
from d2lutils.config import resolve_profile


@pytest.mark.parametrize("name,expected", [("quick", "quick"), ("full", "full"), (" FULL ", "full")])
def test_resolve_profile_names(name, expected):
    assert resolve_profile(name) == expected


def test_auto_profile_follows_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_profile("auto") == "quick"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_profile("auto") == "full"


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("D2L_PROFILE", "full")
    assert resolve_profile(None) == "full"
    monkeypatch.delenv("D2L_PROFILE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_profile(None) == "quick"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    with pytest.raises(d2l.ProfileError, match="quick、full 或 auto"):
        resolve_profile("fast")
    monkeypatch.setenv("D2L_PROFILE", "gpu")
    with pytest.raises(d2l.ProfileError, match="D2L_PROFILE"):
        d2l.setup()


def test_setup_prints_one_line_and_seeds(capsys):
    cfg = d2l.setup("quick", seed=3)
    line = capsys.readouterr().out.strip()
    assert line == (f"运行配置：profile=quick, device={cfg.device}, torch={torch.__version__}, "
                    f"threads={torch.get_num_threads()}")
    a = torch.rand(3)
    d2l.setup("quick", seed=3)
    assert torch.equal(a, torch.rand(3))
    assert cfg.pick(quick=1, full=2) == 1 and not cfg.full
    assert d2l.RunConfig("full", torch.device("cpu"), 0).pick(quick=1, full=2) == 2


def test_setup_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        d2l.setup("quick", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_devices_fall_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert d2l.num_gpus() == 0
    assert d2l.try_gpu() == torch.device("cpu")
    assert d2l.try_gpu(3) == torch.device("cpu")
    assert d2l.try_all_gpus() == [torch.device("cpu")]


def test_devices_with_fake_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert d2l.try_gpu(1) == torch.device("cuda:1")
    assert d2l.try_gpu(2) == torch.device("cpu")
    assert d2l.try_all_gpus() == [torch.device("cuda:0"), torch.device("cuda:1")]


def test_seed_everything_repeats_numpy_and_python():
    import random

    import numpy as np
    d2l.seed_everything(7)
    first = (random.random(), np.random.rand(), torch.randn(2))
    d2l.seed_everything(7)
    second = (random.random(), np.random.rand(), torch.randn(2))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])


def test_timer():
    t = d2l.Timer()
    time.sleep(0.01)
    assert t.stop() >= 0.009
    t.start()
    t.stop()
    assert len(t.times) == 2 and t.sum() == pytest.approx(sum(t.times))
    assert t.avg() == pytest.approx(t.sum() / 2) and t.cumsum()[-1] == pytest.approx(t.sum())


def test_accumulator():
    acc = d2l.Accumulator(2)
    acc.add(1, torch.tensor(2.5))
    acc.add(2, 0.5)
    assert acc[0] == 3 and acc[1] == 3.0 and len(acc) == 2
    with pytest.raises(ValueError):
        acc.add(1)
    acc.reset()
    assert acc.data == [0.0, 0.0]
