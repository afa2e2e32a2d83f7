"""A new section: chapters/<part>/<name>.md written from chapters/_template.md."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from . import paths

TEMPLATE = paths.ROOT / "chapters" / "_template.md"


def new_section(part: str, name: str, lecture: int, title: str | None = None,
                chapters: Path | None = None) -> Path:
    """Write ``chapters/<part>/<name>.md`` from chapters/_template.md; refuses to overwrite."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", part) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise SystemExit(f"部分和章节名只用小写字母、数字和 - (part/name: lowercase, digits, -): {part}/{name}")
    md = (chapters or paths.ROOT / "chapters") / part / f"{name}.md"
    if md.exists():
        raise SystemExit(f"{md} 已存在，不覆盖 (exists; not overwritten)")
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in {"__LECTURE2__": f"{lecture:02d}", "__LECTURE__": str(lecture), "__PART__": part,
                       "__NAME__": name, "__TITLE__": title or name}.items():
        text = text.replace(key, value)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text, encoding="utf-8")
    return md


def cmd_new(args: argparse.Namespace) -> int:
    """``new PART NAME --lecture N``: write the section and say what to do next."""
    md = new_section(args.part, args.name, args.lecture, args.title)
    rel = paths.relative(md)
    print(f"已生成 (written) {rel}；写好后加入 _toc.yml 并运行 python tools/book.py run {rel}")
    return 0
