"""Run facts: profile, device and metrics that a run printed or its helpers emitted, and the CPU it ran on."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import staleness

if TYPE_CHECKING:
    from nbformat import NotebookNode

SETUP_RE = re.compile(r"运行配置：profile=(\w+), device=([\w:]+), torch=([^\s,]+)")
METRIC_RE = re.compile(r"训练损失 ([\d.]+), 训练精度 ([\d.]+), 测试精度 ([\d.]+)")
SPEED_RE = re.compile(r"([\d.]+) 样本/秒 \(([\w:]+)\)")
# language models (train_ch8) and seq2seq (train_seq2seq): 困惑度 1.3 / 损失 0.020, then 词元/秒
PPL_RE = re.compile(r"困惑度 ([\d.]+), ([\d.]+) 词元/秒 \(([\w:]+)\)")
SEQ_LOSS_RE = re.compile(r"(?<![\w])损失 ([\d.]+), ([\d.]+) 词元/秒 \(([\w:]+)\)")


# --- what the notebook printed -------------------------------------------------------------------


def notebook_text(cells: Sequence[NotebookNode]) -> str:
    """The printed text of the cells' outputs (streams and plain-text results), one after another."""
    parts = []
    for c in cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif "data" in o and "text/plain" in o["data"]:
                parts.append(o["data"]["text/plain"])
    return "\n".join(parts)


def body_cells(cells: Sequence[NotebookNode]) -> list:
    """The cells before the exercises (``## 练习``): the section's own results, not the answers'."""
    for i, c in enumerate(cells):
        if c.cell_type == "markdown" and re.match(r"^## 练习", c.source.strip()):
            return cells[:i]
    return list(cells)


def read_run_facts(nb: NotebookNode) -> dict:
    """Profile, device and the section's headline metrics, read back from what the notebook printed.

    The headline result is the first training run of the section body (the exercises' runs and
    later side experiments do not count): its metric line and the speed line of the same cell.
    """
    facts: dict = {}
    m = SETUP_RE.search(notebook_text(nb.cells))
    if m:
        facts.update(profile=m.group(1), device=m.group(2), torch=m.group(3))
    runs = printed_runs(nb)
    if runs:
        facts["metrics"] = runs[0]
    return facts


def printed_runs(nb: NotebookNode) -> list[dict]:
    """Every training summary the section body printed, in order, as metric dicts (a section may print
    its own from-scratch loop's line in the same format before a d2lutils trainer's)."""
    runs = []
    for cell in body_cells(nb.cells):
        text = notebook_text([cell])
        for m in PPL_RE.finditer(text):
            runs.append({"perplexity": float(m.group(1)), "tokens_per_sec": float(m.group(2))})
        for m in SEQ_LOSS_RE.finditer(text):
            runs.append({"loss": float(m.group(1)), "tokens_per_sec": float(m.group(2))})
        speed = SPEED_RE.search(text)
        for m in METRIC_RE.finditer(text):
            run = {"train_loss": float(m.group(1)), "train_acc": float(m.group(2)), "test_acc": float(m.group(3))}
            if speed:
                run["examples_per_sec"] = float(speed.group(1))
            runs.append(run)
    return runs


def recorded_metrics_printed(nb: NotebookNode) -> bool:
    """Whether the metrics stored at run time (``metadata.d2l.metrics``) equal one of the printed
    summaries, within printed precision (3 decimals for loss/accuracy, 1 for speeds and perplexity).
    False also when the body prints a summary but nothing was stored."""
    stored = nb.metadata.get("d2l", {}).get("metrics", {})
    runs = printed_runs(nb)
    if not stored:
        return not runs

    def same(printed: dict) -> bool:
        return all(k in printed and abs(printed[k] - v) <= (0.05 if k.endswith("per_sec") or k == "perplexity"
                                                             else 5e-4) + 1e-9
                   for k, v in stored.items() if v is not None)
    return any(same(r) for r in runs)


# --- what the helpers emitted (d2lutils.facts) ---------------------------------------------------

FACT_TAG = "d2l-facts"  # cells that book.py adds around a run and removes afterwards


def with_fact_cells(nb: NotebookNode) -> tuple[NotebookNode, int | None]:
    """A copy of ``nb`` with two hidden cells: ``facts.freeze()`` before ``## 练习`` (the exercises' runs
    are not the section's result) and ``facts.emit()`` at the end. Returns (copy, index of the freeze
    cell or None). Sections that do not use d2lutils get none."""
    import copy
    import nbformat
    run_nb = copy.deepcopy(nb)
    if "d2lutils" not in staleness.code_of(nb):
        return run_nb, None

    def cell(source):
        return nbformat.v4.new_code_cell(source, metadata={"tags": [FACT_TAG]})
    freeze_at = None
    for i, c in enumerate(run_nb.cells):
        if c.cell_type == "markdown" and re.match(r"^## 练习", c.source.strip()):
            run_nb.cells.insert(i, cell("import d2lutils.facts\nd2lutils.facts.freeze()"))
            freeze_at = i
            break
    run_nb.cells.append(cell("import d2lutils.facts\nd2lutils.facts.emit()"))
    return run_nb, freeze_at


def pop_fact_cells(nb: NotebookNode) -> dict:
    """Remove the cells added by ``with_fact_cells`` from the executed ``nb``; return the facts they emitted."""
    import json
    found: dict = {}
    kept = []
    for c in nb.cells:
        if FACT_TAG in c.get("metadata", {}).get("tags", []):
            for o in c.get("outputs", []):
                data = o.get("data", {}).get("application/vnd.d2l.facts+json")
                if data is not None:
                    found = json.loads(data) if isinstance(data, str) else dict(data)
        else:
            kept.append(c)
    nb.cells = kept
    return found


# --- the machine ---------------------------------------------------------------------------------


def cpu_facts() -> dict:
    """The CPU that made a recording: its model and the vector instructions torch's kernels use there.
    Another CPU model may pick other kernels and sum in another order (see tools/spread.py)."""
    import platform
    import torch
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "CPU implementer", "CPU part") and key not in info:
                info[key] = value.strip()
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']} model {info['model']})"
    elif "CPU part" in info:
        name += f" (implementer {info.get('CPU implementer', '?')} part {info['CPU part']})"
    return {"cpu": name, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
