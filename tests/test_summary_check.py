"""The re-executed training summary must agree with the recorded one (tests/conftest.py SummaryCheck)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, summary_mismatch

LINE = "训练损失 {:.3f}, 训练精度 {:.3f}, 测试精度 {:.3f}\n"


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_close_numbers_pass_and_a_hand_edit_fails():
    recorded = [stream(LINE.format(0.512, 0.812, 0.833))]
    assert summary_mismatch(recorded, [stream(LINE.format(0.515, 0.810, 0.829))]) == ""
    problem = summary_mismatch([stream(LINE.format(0.512, 0.812, 0.999))], [stream(LINE.format(0.512, 0.812, 0.833))])
    assert "test_acc" in problem
    assert "train_loss" in summary_mismatch(recorded, [stream(LINE.format(1.9, 0.812, 0.833))])
    assert "perplexity" in summary_mismatch([stream("困惑度 1.3, 500.0 词元/秒 (cpu)\n")],
                                            [stream("困惑度 9.7, 480.0 词元/秒 (cpu)\n")])
    assert summary_mismatch([stream("no summary here\n")], [stream("nor here\n")]) == ""


def test_tolerance_comes_from_the_cells_measured_spread():
    """A section whose summary barely moved under the perturbations gets a tight bound, a chaotic one a
    wide bound (tools/spread.py); 5 points lower passes only where that much movement was measured."""
    recorded = [stream(LINE.format(0.512, 0.812, 0.833))]
    rerun = [stream(LINE.format(0.512, 0.812, 0.783))]
    narrow = {"test_acc": {"values": {"recorded": 0.833, "seed": 0.830}, "min": 0.830, "max": 0.833}}
    wide = {"test_acc": {"values": {"recorded": 0.833, "seed": 0.80}, "min": 0.80, "max": 0.833}}
    assert "measured spread" in summary_mismatch(recorded, rerun, narrow)
    assert summary_mismatch(recorded, rerun, wide) == ""
    assert "fallback" not in summary_mismatch(recorded, [stream(LINE.format(0.512, 0.812, 0.5))], wide)


@pytest.mark.slow
def test_nbval_run_fails_on_an_edited_summary(tmp_path):
    code = 'print("训练损失 0.512, 训练精度 0.812, 测试精度 0.833")'
    for name, printed in (("honest", "0.833"), ("edited", "0.999")):
        cell = nbformat.v4.new_code_cell(code, execution_count=1,
                                         outputs=[stream(LINE.format(0.512, 0.812, float(printed)))])
        nb = nbformat.v4.new_notebook(cells=[cell])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["d2l"] = {"profile": "quick", "device": "cpu"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q",
                           "--nbval-lax", "--nbval-current-env", "-n", "0", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    out = proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in out, out[-3000:]
    assert "edited.ipynb" in out and "test_acc: recorded 0.999, re-run 0.833" in out, out[-3000:]
