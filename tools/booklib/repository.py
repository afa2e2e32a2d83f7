"""The book's repository URL: read from _config.yml, and changed everywhere it is repeated (set-repo)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from . import paths, retext, toc

REPO_RE = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+?(?=[\"/\s]|$)")


def repository_url() -> str:
    """The book's repository: ``repository.url`` in _config.yml, the one place it is set."""
    import yaml
    return yaml.safe_load((paths.ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"].rstrip("/")


def repository_url_files() -> list[Path]:
    """Every file that must repeat the repository URL (Colab cells, the helper's data mirror, README)."""
    return [paths.ROOT / "d2lutils" / "hub.py", paths.ROOT / "README.md", paths.ROOT / "chapters" / "_template.md",
            *[md for md in toc.toc_sections() if md.is_file()]]


def cmd_set_repo(args: argparse.Namespace) -> int:
    """Change the repository URL in _config.yml and everywhere that repeats it, then retext sections."""
    old, new = repository_url(), args.url.rstrip("/")
    if not REPO_RE.fullmatch(new):
        raise SystemExit(f"需要 https://github.com/<owner>/<repo> 形式的地址（need a GitHub URL）: {new!r}")
    old_raw = old.replace("https://github.com/", "https://raw.githubusercontent.com/")
    new_raw = new.replace("https://github.com/", "https://raw.githubusercontent.com/")
    for path in [paths.ROOT / "_config.yml", *repository_url_files()]:
        text = path.read_text(encoding="utf-8")
        changed = text.replace(old, new).replace(old_raw, new_raw)
        if changed != text:
            path.write_text(changed, encoding="utf-8")
            if path.parent.parent.name == "chapters" and path.with_suffix(".ipynb").is_file():
                ok, msg = retext.retext(path)
                if not ok:
                    print(f"  ✗ {path.relative_to(paths.ROOT)}: {msg}")
    print(f"仓库地址已改为 (repository set to) {new}")
    return 0
