"""How far a section's trained results move when the arithmetic changes the way another machine changes it.

Another CPU model picks other kernels (oneDNN or not, AVX2 or AVX-512), another thread count sums in
another order, and the first rounding difference grows through training. This tool re-runs a section in
its recorded profile under such perturbations, one at a time, and stores, for every training summary a
cell prints and every number the prose quotes (glue), the recorded value and the values of the perturbed
runs. The summary check of the test suite (tests/conftest.py) derives each section's tolerance from it,
and tests/test_spread.py fails when a recording lies outside its stored spread.

    python tools/spread.py measure chapters/modern-cnn/nin.md      # or no path: every trained section
    python tools/spread.py show                                     # the widest spreads first
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book  # noqa: E402

ROOT = book.ROOT
SPREAD_FILE = ROOT / "tests" / "summary_spread.json"

# Each perturbation: (code run in a hidden first cell, environment for the run). One change at a time.
_SEED = """import d2lutils, d2lutils.config as _config
_setup = _config.setup
def _other_seed(profile=None, seed=0, threads=None):
    return _setup(profile, seed + 1, threads)
d2lutils.setup = _other_seed"""
_MKLDNN = "import torch\ntorch.backends.mkldnn.enabled = False"
_NCHW = """import d2lutils.train as _train, d2lutils.vision as _vision
_choose = _train.use_channels_last
def _nchw(net, device, channels_last=None):
    return _choose(net, device, False if channels_last is None else channels_last)
_train.use_channels_last = _vision.use_channels_last = _nchw"""
# A CPU without AVX-512 (most AMD and older Intel CPUs): torch's own kernels, oneDNN and MKL all limited to AVX2.
_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
PERTURBATIONS = ("seed", "threads", "mkldnn", "channels_last", "avx2")  # and "rerun": no change
CONV_TRAINERS = re.compile(r"\b(train_ch6|train_ch13|train_segmentation|train_fine_tuning)\(")

# Tolerance of the summary check = MARGIN × the largest move measured + a floor (absolute for
# accuracies, relative for losses and perplexities). The perturbations stand in for another CPU, which
# may combine several of them: hence the margin.
MARGIN = 2.0
ABSOLUTE = {"train_acc": 0.02, "test_acc": 0.02}
RELATIVE = {"train_loss": 0.03, "perplexity": 0.03, "loss": 0.03}


def perturbation(name: str, recorded_threads: int | None) -> tuple[str | None, dict]:
    if name == "rerun":  # no change: does the recording reproduce on this machine with today's helpers?
        return None, {}
    if name == "seed":
        return _SEED, {}
    if name == "threads":  # the other of 1 and 2 threads
        return None, {"D2L_NUM_THREADS": "1" if (recorded_threads or 1) > 1 else "2"}
    if name == "mkldnn":
        return _MKLDNN, {}
    if name == "channels_last":
        return _NCHW, {}
    if name == "avx2":
        return None, dict(_AVX2)
    raise ValueError(f"未知的扰动 {name!r}，可选 {', '.join(PERTURBATIONS)} (unknown perturbation)")


def code_sha256(md: Path) -> str:
    """Hash of the section's code cells only: prose edits keep a measured spread valid."""
    import jupytext
    return hashlib.sha256(book.code_of(jupytext.read(md)).encode("utf-8")).hexdigest()


def book_code_sha256(md: Path) -> str:
    """Hash of the code cells of the recorded notebook (what the recording ran)."""
    import nbformat
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    return hashlib.sha256(book.code_of(nb).encode("utf-8")).hexdigest()


def cell_metrics(outputs) -> dict:
    """The first training summary one cell printed (the numbers the summary check compares)."""
    import nbformat
    cell = nbformat.v4.new_code_cell("", outputs=[nbformat.from_dict(o) for o in outputs])
    runs = book.printed_runs(nbformat.v4.new_notebook(cells=[cell]))
    return {k: v for k, v in (runs[0] if runs else {}).items() if not k.endswith("per_sec")}


def glued_numbers(nb) -> dict[str, float]:
    """Every number the prose quotes through d2l.glue."""
    found = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            scrap = o.get("metadata", {}).get("scrapbook", {})
            name, data = scrap.get("name"), o.get("data", {})
            # myst-nb's glue(display=False) stores the value under "<mime_prefix>text/plain"
            text = data.get(scrap.get("mime_prefix", "") + "text/plain", data.get("text/plain"))
            if name is None or text is None:
                continue
            try:
                value = float("".join(text) if isinstance(text, list) else text)
            except ValueError:
                continue
            if math.isfinite(value):
                found[name] = value
    return found


def observations(nb) -> tuple[dict[str, dict], dict[str, float]]:
    """({cell id: {metric: value}}, {glue name: value}) of an executed notebook."""
    cells = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            m = cell_metrics(cell.get("outputs", []))
            if m:
                cells[cell["id"]] = m
    return cells, glued_numbers(nb)


def quick_cpu_recording(meta: dict) -> bool:
    """Recorded in the profile that CI re-executes, on a CPU: its printed summaries are compared."""
    return meta.get("profile") == "quick" and not str(meta.get("device", "")).startswith("cuda")


def trained(md: Path) -> bool:
    """A section that trains something: it prints a training summary, stores metrics, or calls a
    trainer. CI re-executes every section in the quick profile, a full or GPU recording too: its check
    cells must then hold on any CPU."""
    import nbformat
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return False
    nb = nbformat.read(nb_path, as_version=4)
    meta = nb.metadata.get("d2l", {})
    code = book.code_of(nb)
    return bool(meta.get("metrics") or observations(nb)[0]
                or re.search(r"\b(train\w*|fit\w*)\(", code) and "d2lutils" in code)


def load() -> dict:
    if not SPREAD_FILE.is_file():
        return {}
    return json.loads(SPREAD_FILE.read_text(encoding="utf-8"))


def save(data: dict) -> None:
    """Atomically: a measurement interrupted half-way never leaves a damaged file."""
    tmp = Path(tempfile.mkstemp(dir=SPREAD_FILE.parent, prefix=".spread-")[1])
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, SPREAD_FILE)


def key(md: Path) -> str:
    return str(md.resolve().relative_to(ROOT))


def _merge(target: dict, name: str, values: dict) -> None:
    for metric, value in values.items():
        if value is None:
            continue
        entry = target.setdefault(metric, {"values": {}})
        entry["values"][name] = value


def _finish(table: dict) -> None:
    for entry in table.values():
        vals = list(entry["values"].values())
        entry["min"], entry["max"] = min(vals), max(vals)


def measure(md: Path, names=PERTURBATIONS, timeout: int = 1800) -> dict:
    """Run ``md`` under each perturbation; return its spread entry (nothing is written beside it)."""
    import nbformat
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    meta = nb.metadata.get("d2l", {})
    profile = "quick"  # what CI re-executes, whatever the recording's profile
    threads = int(meta.get("threads") or 1)
    cells, glue = {}, {}
    rec_cells, rec_glue = observations(nb) if quick_cpu_recording(meta) else ({}, {})
    for cid, values in rec_cells.items():
        _merge(cells.setdefault(cid, {}), "recorded", values)
    _merge(glue, "recorded", rec_glue)
    runs = {}
    code = book.code_of(nb)
    if not quick_cpu_recording(meta) and "rerun" not in names:
        names = ("rerun", *names)  # the quick baseline that the perturbed runs are compared with
    for name in names:
        if name == "channels_last" and not CONV_TRAINERS.search(code):
            continue  # nothing in this section uses the channels-last default
        prelude, env = perturbation(name, threads)
        ok, message, done, seconds, _ = book.run_notebook(md, profile, timeout, prelude=prelude, env=env)
        runs[name] = {"ok": ok, "seconds": round(seconds, 1)}
        if not ok:
            runs[name]["error"] = message[-600:]
            print(f"    ✗ {name}: {message.strip().splitlines()[-1] if message.strip() else 'failed'}", flush=True)
            continue
        run_cells, run_glue = observations(done)
        for cid, values in run_cells.items():
            if cid in rec_cells or not rec_cells:
                _merge(cells.setdefault(cid, {}), name, values)
        _merge(glue, name, {k: v for k, v in run_glue.items() if k in rec_glue or not rec_glue})
        print(f"    ✓ {name}: {seconds:.1f} s", flush=True)
    for table in cells.values():
        _finish(table)
    _finish(glue)
    return {"code_sha256": code_sha256(md), "profile": profile, "threads": threads,
            "measured": dt.date.today().isoformat(), **book.cpu_facts(), "runs": runs,
            "cells": cells, "glue": glue}


def combine(old: dict | None, new: dict) -> dict:
    """``new`` plus the perturbations of ``old`` that ``new`` did not re-run, when both measured the same
    code and recording (so that e.g. the 2-thread run can be measured separately, with both cores free)."""
    if not old or old.get("code_sha256") != new["code_sha256"]:
        return new
    same_recording = all(old["cells"].get(cid, {}).get(m, {}).get("values", {}).get("recorded")
                         == e["values"].get("recorded")
                         for cid, table in new["cells"].items() for m, e in table.items())
    if not same_recording:
        return new
    merged = json.loads(json.dumps(new))
    pairs = [(old["cells"][cid], merged["cells"][cid]) for cid in old["cells"] if cid in merged["cells"]]
    pairs.append((old["glue"], merged["glue"]))
    for name, run in old["runs"].items():
        if name in merged["runs"]:
            continue
        merged["runs"][name] = run
        for src, dst in pairs:
            for metric, e in src.items():
                if name in e["values"] and metric in dst:
                    dst[metric]["values"][name] = e["values"][name]
    for table in merged["cells"].values():
        _finish(table)
    _finish(merged["glue"])
    return merged


def tolerance(metric: str, entry: dict, recorded: float) -> float:
    """The summary check's bound for ``metric`` of one cell: how far its values moved, with a margin."""
    moved = max((abs(v - entry["values"].get("recorded", recorded)) for v in entry["values"].values()), default=0.0)
    if metric in RELATIVE:
        scale = max(abs(recorded), 1e-3)
        return MARGIN * moved + RELATIVE[metric] * scale
    return MARGIN * moved + ABSOLUTE.get(metric, 0.02)


def outside_spread(nb, entry: dict) -> list[str]:
    """The printed summaries of recording ``nb`` that lie outside the stored spread ``entry`` (its
    tolerance around the value recorded when the spread was measured); [] when all are inside."""
    problems = []
    now, _ = observations(nb)
    for cid, table in entry.get("cells", {}).items():
        if cid not in now:
            problems.append(f"{cid}: 记录里没有这个单元格的训练结果 (no summary in this cell any more)")
            continue
        for metric, e in table.items():
            if metric not in now[cid]:
                continue
            base = e["values"].get("recorded", now[cid][metric])
            bound = tolerance(metric, e, base)
            if abs(now[cid][metric] - base) > bound + 1e-9:
                problems.append(f"{cid} {metric}: 记录 {now[cid][metric]}，测得范围 {e['min']}…{e['max']}"
                                f"（允许 ±{bound:.3g}）(recorded value outside the measured spread)")
    return problems


def width(entry: dict) -> float:
    """How wide a section's spread is, in accuracy points (or relative change for losses/perplexities)."""
    widest = 0.0
    for table in entry.get("cells", {}).values():
        for metric, e in table.items():
            span = e["max"] - e["min"]
            widest = max(widest, span / max(abs(e["max"]), 1e-3) if metric in RELATIVE else span)
    return widest


def cmd_measure(args) -> int:
    sections = [book.resolve(s) for s in args.sections] if args.sections else \
        [md for md in book.toc_sections() if trained(md)]
    names = tuple(args.perturb.split(",")) if args.perturb else PERTURBATIONS
    for n in names:
        perturbation(n, 1)  # an unknown name fails before anything runs
    failed = []
    for md in sections:
        stale = book.stale_reason(md)
        if stale and code_sha256(md) != book_code_sha256(md):
            print(f"  ✗ {key(md)}: 代码在记录之后改动了，先运行 python tools/book.py run {key(md)} "
                  f"(the code changed since the recording: re-record it first)", flush=True)
            failed.append(key(md))
            continue
        have = load().get(key(md))
        if args.missing and have and have["code_sha256"] == code_sha256(md) and set(names) <= set(have["runs"]):
            print(f"  已测过，跳过 (already measured) {key(md)}", flush=True)
            continue
        print(f"▶ {key(md)}" + (f"（记录已过期 / stale: {stale}）" if stale else ""), flush=True)
        entry = measure(md, names)
        from filelock import FileLock
        with FileLock(str(SPREAD_FILE) + ".lock"):  # measurements of other sections may run side by side
            data = load()
            entry = combine(data.get(key(md)), entry)
            data[key(md)] = entry
            save(data)
        bad = [n for n, r in entry["runs"].items() if not r["ok"]]
        print(f"  {'✗' if bad else '✓'} {key(md)}: 宽度 (width) {width(entry):.3f}"
              + (f"；扰动后失败 (failed under): {', '.join(bad)}" if bad else ""), flush=True)
        if bad:
            failed.append(key(md))
    return 1 if failed else 0


def cmd_show(args) -> int:
    data = load()
    for name, entry in sorted(data.items(), key=lambda kv: -width(kv[1]))[:args.top]:
        bad = [n for n, r in entry["runs"].items() if not r["ok"]]
        print(f"{width(entry):6.3f}  {name}  {entry['measured']}  {entry.get('cpu_capability', '')}"
              + (f"  failed: {','.join(bad)}" if bad else ""))
        for cid, table in entry["cells"].items():
            for metric, e in table.items():
                print(f"          {cid} {metric}: {e['min']:.4g} … {e['max']:.4g}  {e['values']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("measure", help="re-run sections under perturbations and store their spread")
    p.add_argument("sections", nargs="*", help="default: every trained quick-profile section")
    p.add_argument("--perturb", default=None,
                   help=f"comma-separated subset of {','.join(PERTURBATIONS)}, or rerun (no change)")
    p.add_argument("--missing", action="store_true",
                   help="skip sections already measured for their current code under these perturbations")
    p = sub.add_parser("show", help="the widest spreads first")
    p.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    return cmd_measure(args) if args.cmd == "measure" else cmd_show(args)


if __name__ == "__main__":
    sys.exit(main())
