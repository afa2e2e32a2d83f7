"""The book's sections: their reading order in _toc.yml, and a section named on the command line."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import paths


def toc_sections() -> list[Path]:
    """Section sources (.md with a paired notebook) listed in _toc.yml, in reading order."""
    import yaml
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(toc.get("parts", toc))
    out = []
    for f in files:
        md = paths.ROOT / (f if f.endswith(".md") else f + ".md")
        # chapters/<part>/<section>.md; chapters/<part>/index.md is the part's page, not a notebook
        if md.parent.parent.name == "chapters" and md.stem != "index":
            out.append(md)
    return out


def resolve(spec: str) -> Path:
    """The section .md that ``spec`` names: a path (to the .md or its .ipynb) or a bare section name."""
    p = Path(spec)
    if not p.is_absolute():
        p = (Path.cwd() / p) if (Path.cwd() / p).exists() else paths.ROOT / p
    if p.suffix == ".ipynb":
        p = p.with_suffix(".md")
    if p.suffix != ".md":
        p = p.with_suffix(".md")
    if not p.is_file():
        matches = [s for s in toc_sections() if s.stem == spec]
        if len(matches) == 1:
            return matches[0]
        raise SystemExit(f"找不到章节 {spec!r}（section not found; give chapters/<part>/<name>.md）")
    return p.resolve()


def cmd_list(args: argparse.Namespace) -> int:
    """``list``: the sections in reading order."""
    for md in toc_sections():
        print(md.relative_to(paths.ROOT))
    return 0
