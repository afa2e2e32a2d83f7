"""What the whole book costs in the quick profile (what CI and a reader's laptop run), summed from runs.

A section recorded in the quick profile on a CPU counts its recorded time. A full or GPU recording says
nothing about its quick run, so such a section counts the quickest quick-profile run that
``tools/spread.py measure`` made of its current code (stored in tests/summary_spread.json; ``--perturb
rerun`` measures one with no change). A section with neither (an untrained section recorded in full)
counts its recorded time. Times include the kernel start.

    python tools/quick_budget.py            # per part, the largest sections, the total
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book  # noqa: E402
import spread  # noqa: E402

BUDGET_S = 22 * 60   # the whole book, quick profile, one thread, 2-core machine


@dataclass
class Cost:
    section: str        # chapters/<part>/<name>.md
    seconds: float
    source: str         # "quick recording" | "spread run" | "full recording"
    lectures: tuple[int, ...]


def lectures_of(md: Path) -> tuple[int, ...]:
    head = md.read_text(encoding="utf-8")[:2000]
    m = re.search(r"^lectures:\s*\[([^\]]*)\]", head, re.M)
    return tuple(int(x) for x in re.findall(r"\d+", m.group(1))) if m else ()


def section_cost(md: Path, spreads: dict) -> Cost | None:
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return None
    meta = json.loads(nb_path.read_text(encoding="utf-8"))["metadata"].get("d2l", {})
    name = spread.key(md)
    if spread.quick_cpu_recording(meta):
        return Cost(name, float(meta.get("duration_s", 0.0)), "quick recording", lectures_of(md))
    entry = spreads.get(name)
    if entry and entry.get("code_sha256") == spread.code_sha256(md) and entry.get("runs"):
        runs = entry["runs"]
        seconds = runs["rerun"]["seconds"] if "rerun" in runs else min(r["seconds"] for r in runs.values())
        return Cost(name, float(seconds), "spread run", lectures_of(md))
    return Cost(name, float(meta.get("duration_s", 0.0)), "full recording", lectures_of(md))


def book_costs() -> list[Cost]:
    spreads = spread.load()
    return [c for md in book.toc_sections() if (c := section_cost(md, spreads)) is not None]


def total(costs: list[Cost], lectures: set[int] | None = None) -> float:
    """Seconds of the sections that cover any of ``lectures`` (all sections when None)."""
    return sum(c.seconds for c in costs if lectures is None or lectures & set(c.lectures))


VISION, RNN_ATTENTION = set(range(36, 51)) | {71}, set(range(51, 71))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=15, help="how many of the largest sections to list")
    args = parser.parse_args(argv)
    costs = book_costs()
    parts: dict[str, float] = {}
    for c in costs:
        part = c.section.split("/")[1]
        parts[part] = parts.get(part, 0.0) + c.seconds
    print("各部分 quick 用时 (quick-profile seconds per part):")
    for part, s in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {part:32s} {s:7.1f}")
    print(f"最大的 {args.top} 节 (largest sections):")
    for c in sorted(costs, key=lambda c: -c.seconds)[:args.top]:
        print(f"  {c.section:60s} {c.seconds:6.1f}  {c.source}")
    whole = total(costs)
    print(f"第 36–50、71 讲 {total(costs, VISION):.0f} 秒；第 51–70 讲 {total(costs, RNN_ATTENTION):.0f} 秒")
    print(f"全书 quick 合计 (whole book): {whole:.0f} 秒 = {whole / 60:.1f} 分钟，预算 {BUDGET_S / 60:.0f} 分钟")
    return 0 if whole <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
