"""One term per concept (TERMINOLOGY.md): a term the table rules out ("不用") fails the test wherever a
section (.md) or a helper (d2lutils/*.py) uses it.

* A plain entry ("数据增强") is looked for as it is.
* An entry with a note in brackets ("周期（指一轮训练时）") is wrong only in that sense; it is checked by
  the pattern in CONTEXT_RULES written for it (an entry with a note and no rule is not checked).
* Quoting someone else's name for a thing is fine: 课程称“目标检测”, 也称“…”, 又称“…”.
* Compound terms that contain a ruled-out word but are terms of their own (注意力汇聚) are allowed.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TERMINOLOGY = ROOT / "TERMINOLOGY.md"

# ruled-out entry with a note -> the pattern that finds it used in that sense
CONTEXT_RULES = {
    "周期（指一轮训练时）": r"[个每]\s*周期(?!性)",
    "偏差（指参数时；“偏差”只用于偏差–方差、偏差修正等）":
        r"偏差(?:项|参数|向量)|(?:权重|weight)\s*[和与、]\s*偏差|省略偏差",
}
# a ruled-out word inside one of these is part of another term
ALLOWED_COMPOUNDS = {"汇聚": ("注意力汇聚", "参数汇聚")}  # 非参数/带参数（注意力）汇聚
QUOTED = re.compile(r"(?:称\s*[“\"「]|译作|译为)$")


def ruled_out() -> list[tuple[str, str, re.Pattern]]:
    """``(entry as written, preferred term, pattern)`` for every "不用" entry of TERMINOLOGY.md."""
    rules = []
    for line in TERMINOLOGY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 3 or set(cells[0]) <= set("-") or cells[0] == "English":
            continue
        for entry in filter(None, (e.strip() for e in re.split(r"[、，](?![^（]*）)", cells[2]))):
            if "（" in entry:
                if entry in CONTEXT_RULES:
                    rules.append((entry, cells[1], re.compile(CONTEXT_RULES[entry])))
                continue
            rules.append((entry, cells[1], re.compile(re.escape(entry))))
    return rules


def violations(text: str, rules) -> list[str]:
    found = []
    for entry, preferred, pattern in rules:
        for m in pattern.finditer(text):
            before = text[max(0, m.start() - 6):m.start()]
            if QUOTED.search(before):
                continue  # a quoted name: 课程称“目标检测”
            around = text[max(0, m.start() - 8):m.end() + 8]
            if any(c in around for c in ALLOWED_COMPOUNDS.get(m.group(0), ())):
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"line {line}: “{m.group(0)}”（{entry}）→ 用“{preferred}”")
    return found


def sources() -> list[Path]:
    return sorted([*(ROOT / "chapters").glob("*/*.md"), *(ROOT / "d2lutils").glob("*.py")])


def test_the_table_rules_terms_out():
    entries = {entry for entry, _, _ in ruled_out()}
    for term in ("屏蔽", "目标检测", "通过时间反向传播", "迭代周期", "数据增强", "替身数据",
                 "周期（指一轮训练时）", "偏差（指参数时；“偏差”只用于偏差–方差、偏差修正等）"):
        assert term in entries, f"TERMINOLOGY.md does not rule out {term}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_ruled_out_terms(path: Path):
    found = violations(path.read_text(encoding="utf-8"), ruled_out())
    assert not found, f"{path.relative_to(ROOT)} 用了术语表不用的说法 (TERMINOLOGY.md):\n" + "\n".join(found)


def test_the_check_can_fail():
    rules = ruled_out()
    bad = ("计算损失时屏蔽填充位置。\n训练 3 个周期。\n用数据增强扩充样本。\n这是目标检测模型。\n"
           "与单层时一样是通过时间反向传播。\n权重和偏差都初始化为 0。\n生成的替身数据。\n迭代周期")
    found = violations(bad, rules)
    assert len(found) == 8, found
    fine = ("计算损失时掩蔽填充位置。训练 3 轮。用数据增广。物体检测（课程称“目标检测”）。时间反向传播。"
            "权重和偏置都初始化为 0；Adam 的偏差修正。生成的替代数据。时钟周期；余弦周期；有没有周期性。注意力汇聚。")
    assert violations(fine, rules) == []
