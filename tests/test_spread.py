"""Every trained section has a measured spread (tools/spread.py), its recording lies inside it, and the
perturbed runs all passed their own checks. Fast: reads the recordings and tests/summary_spread.json."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
import spread  # noqa: E402

TRAINED = [md for md in book.toc_sections() if spread.trained(md)]
IDS = [str(md.relative_to(ROOT / "chapters")) for md in TRAINED]
SPREADS = spread.load()
MEASURE = "python tools/spread.py measure {}"


def test_some_sections_are_trained():
    assert len(TRAINED) >= 10, IDS


@pytest.mark.parametrize("md", TRAINED, ids=IDS)
def test_trained_section_has_a_current_spread(md: Path):
    entry = SPREADS.get(spread.key(md))
    assert entry, f"{spread.key(md)}: no measured spread: run `{MEASURE.format(spread.key(md))}`"
    assert entry["code_sha256"] == spread.code_sha256(md), \
        f"{spread.key(md)}: the code changed since its spread was measured: run `{MEASURE.format(spread.key(md))}`"


@pytest.mark.parametrize("md", TRAINED, ids=IDS)
def test_recording_lies_inside_its_spread(md: Path):
    entry = SPREADS.get(spread.key(md))
    if not entry:
        pytest.skip("no spread (test_trained_section_has_a_current_spread fails)")
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    if not spread.quick_cpu_recording(nb.metadata.get("d2l", {})):
        pytest.skip("a full or GPU recording: CI does not compare its summaries (its checks still run)")
    problems = spread.outside_spread(nb, entry)
    assert not problems, f"{spread.key(md)}: {problems}: re-record and re-measure (`{MEASURE.format(spread.key(md))}`)"


# Quick runs known to fail their own check under a perturbation, kept only where fixing the quick settings
# would throw away a GPU recording (a code change makes it stale, and no GPU is at hand to redo it).
# Each is to be fixed on the next GPU lease; the test fails as soon as one passes, so the entry goes then.
KNOWN_FRAGILE = {
    "chapters/modern-cnn/vgg.md": "quick VGG (SGD 0.1, 4 epochs, 5,000 images) reaches only 0.24 under seed 1; "
                                  "its page shows an H200 full recording that a quick-settings change would stale",
}


@pytest.mark.parametrize("md", TRAINED, ids=IDS)
def test_every_perturbed_run_passed_its_checks(md: Path):
    """A quick run that fails its own check under another seed or oneDNN off would fail on another CPU."""
    entry = SPREADS.get(spread.key(md)) or {"runs": {}}
    failed = {name: run.get("error", "")[-300:] for name, run in entry["runs"].items() if not run["ok"]}
    if spread.key(md) in KNOWN_FRAGILE:
        assert failed, f"{spread.key(md)} now passes under every perturbation: remove it from KNOWN_FRAGILE"
        return
    assert not failed, f"{spread.key(md)}: failed under {failed}"


def _fake(values: dict) -> tuple[object, dict]:
    """A one-cell recording printing test accuracy values['recorded'] and its spread entry."""
    out = nbformat.v4.new_output("stream", name="stdout",
                                 text=f"训练损失 0.500, 训练精度 0.800, 测试精度 {values['recorded']:.3f}\n")
    cell = nbformat.v4.new_code_cell("train()", outputs=[out])
    cell["id"] = "c000-test"
    entry = {"cells": {"c000-test": {"test_acc": {"values": values}}}, "runs": {}}
    spread._finish(entry["cells"]["c000-test"])
    return nbformat.v4.new_notebook(cells=[cell]), entry


def test_a_hand_edited_recording_lies_outside_its_spread():
    nb, entry = _fake({"recorded": 0.80, "seed": 0.79, "mkldnn": 0.81})
    assert spread.outside_spread(nb, entry) == []
    edited = copy.deepcopy(nb)
    edited.cells[0].outputs[0]["text"] = edited.cells[0].outputs[0]["text"].replace("0.800\n", "0.900\n")
    assert "test_acc" in spread.outside_spread(edited, entry)[0]


def test_tolerance_grows_with_the_measured_spread():
    _, narrow = _fake({"recorded": 0.80, "seed": 0.795})
    _, wide = _fake({"recorded": 0.80, "seed": 0.70})
    t_narrow = spread.tolerance("test_acc", narrow["cells"]["c000-test"]["test_acc"], 0.80)
    t_wide = spread.tolerance("test_acc", wide["cells"]["c000-test"]["test_acc"], 0.80)
    assert t_narrow == pytest.approx(spread.MARGIN * 0.005 + spread.ABSOLUTE["test_acc"])
    assert t_wide == pytest.approx(spread.MARGIN * 0.10 + spread.ABSOLUTE["test_acc"]) and t_wide > 0.2


def test_perturbations_change_what_they_say():
    assert spread.perturbation("threads", 1)[1] == {"D2L_NUM_THREADS": "2"}
    assert spread.perturbation("threads", 2)[1] == {"D2L_NUM_THREADS": "1"}
    assert "mkldnn.enabled = False" in spread.perturbation("mkldnn", 1)[0]
    assert "seed + 1" in spread.perturbation("seed", 1)[0]
    assert spread.perturbation("avx2", 1) == (None, {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                                     "MKL_ENABLE_INSTRUCTIONS": "AVX2"})
    with pytest.raises(ValueError, match="未知的扰动"):
        spread.perturbation("moon-phase", 1)


def test_a_separate_measurement_is_combined_with_the_stored_one():
    """The 2-thread run may be measured on its own (both cores free) and added to the other perturbations."""
    _, first = _fake({"recorded": 0.80, "seed": 0.78})
    _, second = _fake({"recorded": 0.80, "threads": 0.83})
    for e, runs in ((first, {"seed": {"ok": True}}), (second, {"threads": {"ok": True}})):
        e.update(code_sha256="x", runs=runs, glue={})
    both = spread.combine(first, second)
    table = both["cells"]["c000-test"]["test_acc"]
    assert set(both["runs"]) == {"seed", "threads"} and (table["min"], table["max"]) == (0.78, 0.83)
    other_code = dict(second, code_sha256="y")
    assert set(spread.combine(first, other_code)["runs"]) == {"threads"}  # another code: start again


def test_glued_numbers_are_read_as_myst_nb_stores_them():
    import nbformat
    hidden = {"output_type": "display_data", "data": {"application/papermill.record/text/plain": "0.884"},
              "metadata": {"scrapbook": {"name": "acc", "mime_prefix": "application/papermill.record/"}}}
    shown = {"output_type": "display_data", "data": {"text/plain": "12"},
             "metadata": {"scrapbook": {"name": "n", "mime_prefix": ""}}}
    words = {"output_type": "display_data", "data": {"application/papermill.record/text/plain": "'il est'"},
             "metadata": {"scrapbook": {"name": "s", "mime_prefix": "application/papermill.record/"}}}
    cell = nbformat.v4.new_code_cell("", outputs=[nbformat.from_dict(o) for o in (hidden, shown, words)])
    assert spread.glued_numbers(nbformat.v4.new_notebook(cells=[cell])) == {"acc": 0.884, "n": 12.0}


def test_the_avx2_perturbation_reaches_torch():
    """The environment of the avx2 perturbation makes torch pick kernels without AVX-512, as on such a CPU."""
    import os
    import subprocess
    env = {**os.environ, **spread.perturbation("avx2", 1)[1]}
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out in {"AVX2", "DEFAULT", "NO AVX", "ZVECTOR", "VSX", "SVE256", "SVE"} and "512" not in out, out
