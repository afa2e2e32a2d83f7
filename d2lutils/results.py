"""The book's headline results, read from the recorded notebooks (course summary, lecture 73).

Every executed section stores ``metadata.d2l`` (profile, device, date, metrics) and the values it
glued for its prose.  :func:`headline_results` collects, in reading order, each section's test
accuracy, perplexity and training speed from the metrics, and the BLEU scores and mean IoU it
glued; :func:`results_table` renders them as a Markdown table; :func:`table_mismatches` reads such
a table back and lists every row that no longer matches the notebooks (the tests use it).
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from . import checks

# metric key in metadata.d2l.metrics -> (column text, format)
METRICS = {"test_acc": ("测试精度", ".3f"), "perplexity": ("困惑度", ".2f"),
           "examples_per_sec": ("样本/秒", ",.0f"), "tokens_per_sec": ("词元/秒", ",.0f")}
# glued value names -> (column text, format); "example" BLEU values score one sentence only
GLUED = [(re.compile(r"bleu"), "BLEU", ".3f"), (re.compile(r"miou$"), "平均交并比", ".3f")]
HEADER = "| 讲次 | 节 | 指标 | 数值 | 配置 | 设备 | 记录日期 |"


@dataclass(frozen=True)
class Result:
    """One headline number of one section, with the run that produced it."""
    section: str        # "modern-cnn/resnet"
    title: str
    lectures: str       # "29" or "55, 56"
    quantity: str       # "测试精度", "BLEU (seq2seq-bleu-mean)", …
    value: str          # formatted as printed in the table
    profile: str
    device: str
    executed: str


def find_book_root(start: Optional[Path] = None) -> Optional[Path]:
    """The nearest folder at or above ``start`` (default: the working directory) holding ``_toc.yml``."""
    here = Path.cwd() if start is None else Path(start)
    for folder in [here, *here.resolve().parents]:
        if (folder / "_toc.yml").is_file():
            return folder
    return None


def toc_sections(root: Path) -> list[Path]:
    """Section notebooks (``chapters/<part>/<name>.ipynb``) listed in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    return toc_sections_of(toc.get("parts", toc), Path(root))


def toc_sections_of(node, root: Path) -> list[Path]:
    """Section notebooks below one node of ``_toc.yml`` (a part, or the whole list of parts)."""
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if f and not f.endswith("/index") and f.count("/") == 2:
                found.append(Path(root) / f"{f}.ipynb")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(node)
    return found


def glued_values(nb: dict) -> dict[str, float]:
    """Numbers a notebook glued with ``d2l.glue`` (name -> value); text values are skipped."""
    values = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            text = out.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[name] = float(value)
    return values


def _title(nb: dict) -> str:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", []))
            m = re.search(r"^# (.+)$", src, re.M)
            if m:
                return m.group(1).strip()
    return ""


def section_results(path: Path) -> list[Result]:
    """The headline numbers of one recorded notebook (empty when it records none)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    meta = nb.get("metadata", {})
    run = meta.get("d2l", {})
    common = dict(section=f"{Path(path).parent.name}/{Path(path).stem}", title=_title(nb),
                  lectures=", ".join(str(n) for n in meta.get("lectures", [])),
                  profile=str(run.get("profile", "")), device=str(run.get("device", "")),
                  executed=str(run.get("executed", "")))
    rows = []
    for key, (label, fmt) in METRICS.items():
        value = (run.get("metrics") or {}).get(key)
        if value is not None:
            rows.append(Result(quantity=label, value=format(value, fmt), **common))
    for name, value in glued_values(nb).items():
        for pattern, label, fmt in GLUED:
            if pattern.search(name) and "example" not in name:
                rows.append(Result(quantity=f"{label} ({name})", value=format(value, fmt), **common))
    return rows


def headline_results(root: Path) -> list[Result]:
    """Every section's headline numbers, in the order of ``_toc.yml``; unrecorded sections are skipped."""
    root = Path(root)
    if not (root / "_toc.yml").is_file():
        raise FileNotFoundError(checks.bilingual(f"{root} 下没有 _toc.yml：传入本书仓库的根目录",
                                                 f"no _toc.yml under {root}: pass the book's root folder"))
    rows = []
    for path in toc_sections(root):
        if path.is_file():
            rows.extend(section_results(path))
    return rows


def lecture_map(root: Path) -> list[tuple[str, str, str, str]]:
    """``(part caption, lectures, title, section)`` for every section of ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    rows = []
    for part in toc.get("parts", []):
        for path in toc_sections_of(part, Path(root)):
            if path.is_file():
                nb = json.loads(path.read_text(encoding="utf-8"))
                lectures = ", ".join(str(n) for n in nb.get("metadata", {}).get("lectures", []))
                rows.append((part.get("caption", ""), lectures, _title(nb), f"{path.parent.name}/{path.stem}"))
    return rows


def results_table(rows: list[Result]) -> str:
    """A Markdown table, one row per number."""
    lines = [HEADER, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.lectures} | {r.title}（`{r.section}`） | {r.quantity} | {r.value} | {r.profile} | "
                     f"{r.device} | {r.executed} |")
    return "\n".join(lines)


def parse_results_table(text: str) -> list[tuple[str, str, str, str, str]]:
    """``(section, quantity, value, profile, device)`` of each row of a table made by :func:`results_table`."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.search(r"（`([^`]+)`）$", cells[1]) if len(cells) == 7 else None
        if m:
            rows.append((m.group(1), cells[2], cells[3], cells[4], cells[5]))
    return rows


def table_mismatches(text: str, root: Path) -> list[str]:
    """Rows of ``text`` that differ from the notebooks under ``root`` (missing and extra rows included)."""
    table = parse_results_table(text)
    now = [(r.section, r.quantity, r.value, r.profile, r.device) for r in headline_results(root)]
    problems = [f"表中有、笔记本里没有 (in the table, not in the notebooks): {row}" for row in table if row not in now]
    problems += [f"笔记本里有、表中没有 (in the notebooks, not in the table): {row}" for row in now if row not in table]
    return problems
