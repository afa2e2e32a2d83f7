"""What makes a PDF build fail, and what a built PDF is made of (read with poppler's tools)."""
from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# xelatex (\tracinglostchars >= 1), TeX Live 2022: "Missing character: There is no ⊗ (U+2297) in font Latin
# Modern Roman 10 Regular" (older engines end the line with "!")
MISSING = re.compile(r"^Missing character: There is no (.+?) in font (.+?)!?$", re.M)


def ansi_escapes(notebooks: list[Path], root: Path | None = None) -> list[str]:
    """``"<notebook>: 第 N 个单元格"`` for every cell whose recorded output holds an ANSI escape sequence
    (colour codes from a progress bar or a traceback): LaTeX prints them as garbage or stops."""
    found = []
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb.get("cells", [])):
            if ANSI.search(json.dumps(cell.get("outputs", []), ensure_ascii=False).replace("\\u001b", "\x1b")):
                name = nb_path.relative_to(root) if root and nb_path.is_relative_to(root) else nb_path
                found.append(f"{name}: 第 {i + 1} 个单元格 (cell {i + 1})")
    return found


def missing_glyphs(log_text: str) -> list[str]:
    """Distinct "character in font" pairs that xelatex could not set (each would print as nothing)."""
    seen: dict[str, None] = {}
    for m in MISSING.finditer(log_text):
        seen.setdefault(f"{m.group(1)} — {m.group(2)}", None)
    return list(seen)


def pdf_pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def pdf_fonts(pdf: Path) -> list[dict]:
    """pdffonts' table as dicts: name, type, emb (bool), sub (bool)."""
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    rows = []
    for line in lines[2:]:  # header and dashes
        parts = line.split()
        # name type [type2] encoding emb sub uni object ID: the three yes/no columns count from the end
        if len(parts) >= 7:
            rows.append({"name": parts[0], "type": " ".join(parts[1:-6]), "emb": parts[-5] == "yes",
                         "sub": parts[-4] == "yes"})
    return rows


def pdf_text(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    cmd = ["pdftotext", "-layout", "-enc", "UTF-8"]
    if first:
        cmd += ["-f", str(first)]
    if last:
        cmd += ["-l", str(last)]
    return subprocess.run([*cmd, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def pdf_bookmarks(pdf: Path) -> list[str]:
    """The titles of the PDF's bookmarks (outline), in order (poppler's pdftohtml -xml lists them)."""
    out = subprocess.run(["pdftohtml", "-i", "-xml", "-stdout", "-q", "-f", "1", "-l", "1", str(pdf)],
                         capture_output=True, text=True, check=True).stdout
    return [html.unescape(t) for t in re.findall(r'<item page="\d+">(.*?)</item>', out)]
