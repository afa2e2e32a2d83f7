#!/usr/bin/env python3
"""Executing the book on several machines, and merging what they recorded.

    python tools/book.py run --shard K/N [...]      # only group K of N (1-based), same options as run
    python tools/shard.py list K/N                  # the sections of group K
    python tools/shard.py pack K/N OUT.tar          # the group's recorded notebooks, as the GPU pass writes them
    python tools/book.py collect A.tar B.tar ...    # unpack the notebooks of several machines

The groups are balanced by the recorded run time (``metadata.d2l.duration_s``; a section never run counts
as the median) with the longest-first greedy rule, and depend only on the checkout: every machine of a
matrix computes the same split. ``collect`` refuses, before writing anything, a notebook that would
replace a better recording — full by quick, a CUDA run by a CPU run, a recording by an older one of the
same source — or that records another version of the section's ``.md`` than this checkout's; ``--force``
takes them anyway. Archives hold paths relative to the repository root (``chapters/<part>/<name>.ipynb``,
like ``tools/gpu_pass.py``'s ``recordings.tar``); its ``failed/`` notebooks are skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_PATH = re.compile(r"chapters/[a-z0-9][a-z0-9-]*/[a-z0-9][\w-]*\.ipynb")


def parse_shard(spec: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise SystemExit(f"--shard 需要 K/N，1 ≤ K ≤ N，例如 --shard 2/4 (--shard takes K/N with 1 <= K <= N): {spec!r}")
    return int(m.group(1)), int(m.group(2))


def recorded_seconds(sections: list[Path]) -> dict[Path, float]:
    """Each section's recorded run time; the median of the others for a section never recorded."""
    known: dict[Path, float] = {}
    for md in sections:
        nb = md.with_suffix(".ipynb")
        if nb.is_file():
            seconds = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {}).get("d2l", {}).get("duration_s")
            if isinstance(seconds, (int, float)):
                known[md] = float(seconds)
    default = statistics.median(known.values()) if known else 60.0
    return {md: known.get(md, default) for md in sections}


def split(sections: list[Path], n: int, seconds: dict[Path, float] | None = None) -> list[list[Path]]:
    """``n`` groups of ``sections`` with nearly equal summed seconds (longest first, each to the group with
    the least so far; ties to the lower group), each in reading order."""
    seconds = seconds if seconds is not None else recorded_seconds(sections)
    order = {md: i for i, md in enumerate(sections)}
    groups: list[list[Path]] = [[] for _ in range(n)]
    totals = [0.0] * n
    for md in sorted(sections, key=lambda s: (-seconds[s], order[s])):
        k = min(range(n), key=lambda i: (totals[i], i))
        groups[k].append(md)
        totals[k] += seconds[md]
    return [sorted(g, key=order.__getitem__) for g in groups]


def pick(sections: list[Path], spec: str) -> list[Path]:
    """The sections of group K of ``"K/N"``."""
    k, n = parse_shard(spec)
    return split(sections, n)[k - 1]


# --- collect -----------------------------------------------------------------------------------------

def _meta(nb: dict) -> dict:
    return nb.get("metadata", {}).get("d2l", {}) or {}


def downgrade(current: dict, incoming: dict, source_sha256: str | None) -> str:
    """Why the recording ``incoming`` (a notebook's ``metadata.d2l``) must not replace ``current``
    ("" when it may). ``source_sha256``: the sha256 of the section's ``.md`` in this checkout."""
    if source_sha256 and incoming.get("source_sha256") != source_sha256:
        return "记录的是另一个版本的 .md (recorded from another version of the .md than this checkout's)"
    if not current:
        return ""
    if current.get("profile") == "full" and incoming.get("profile") != "full":
        return f"full 记录不会被 {incoming.get('profile', '?')} 覆盖 (would replace a full recording with a cheaper one)"
    cur_dev, new_dev = str(current.get("device", "")), str(incoming.get("device", ""))
    if cur_dev.startswith("cuda") and not new_dev.startswith("cuda"):
        return f"GPU 记录（{cur_dev}）不会被 {new_dev or '?'} 覆盖 (would replace a CUDA recording with a CPU one)"
    if (current.get("source_sha256") == incoming.get("source_sha256")
            and str(incoming.get("executed", "")) < str(current.get("executed", ""))):
        return (f"同一份源文件的记录，{incoming.get('executed')} 早于现有的 {current.get('executed')} "
                f"(an older recording of the same source)")
    return ""


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan_collect(tars: list[Path], root: Path = ROOT) -> tuple[dict[str, bytes], list[str], list[str]]:
    """Read the archives in order. Returns (path -> notebook bytes to write, refusals, notes). A later
    archive's notebook is compared with the earlier archives' pick for the same path, then the checkout's."""
    chosen: dict[str, bytes] = {}
    refused: list[str] = []
    notes: list[str] = []
    for tar_path in tars:
        try:
            tar = tarfile.open(tar_path)
        except (OSError, tarfile.TarError) as err:
            raise SystemExit(f"无法打开归档 (cannot open archive) {tar_path}: {err}")
        with tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if name.startswith("failed/") or member.isdir():
                    notes.append(f"{tar_path.name}: 跳过 (skipped) {name}")
                    continue
                if not member.isfile() or not NOTEBOOK_PATH.fullmatch(name):
                    refused.append(f"{tar_path.name}: {name}: 不是 chapters/<part>/<name>.ipynb 形式的文件 "
                                   f"(not a section notebook path)")
                    continue
                md = root / Path(name).with_suffix(".md")
                if not md.is_file():
                    refused.append(f"{tar_path.name}: {name}: 本仓库没有这一节 (no such section here)")
                    continue
                data = tar.extractfile(member).read()
                try:
                    incoming = json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as err:
                    refused.append(f"{tar_path.name}: {name}: 不是有效的笔记本 (not a notebook): {err}")
                    continue
                if name in chosen:
                    current = _meta(json.loads(chosen[name].decode("utf-8")))
                else:
                    here = root / name
                    current = _meta(json.loads(here.read_text(encoding="utf-8"))) if here.is_file() else {}
                why = downgrade(current, _meta(incoming), _sha256_bytes(md.read_bytes()))
                if why:
                    refused.append(f"{tar_path.name}: {name}: {why}")
                else:
                    chosen[name] = data
    return chosen, refused, notes


def collect(tars: list[Path], root: Path = ROOT, force: bool = False) -> int:
    """Write the notebooks of ``tars`` into ``root``; nothing at all when one would be a downgrade
    (unless ``force``). Returns a shell exit code."""
    chosen, refused, notes = plan_collect(tars, root)
    for note in notes:
        print("  " + note)
    if refused and not force:
        print("拒绝合并，什么也没有写入 (merge refused, nothing written):\n  " + "\n  ".join(refused)
              + "\n确实要替换时加 --force (add --force to take them anyway)", file=sys.stderr)
        return 1
    if refused:
        # --force takes every notebook the archives hold, downgrades included
        for tar_path in tars:
            with tarfile.open(tar_path) as tar:
                for member in tar.getmembers():
                    name = member.name.removeprefix("./")
                    if member.isfile() and NOTEBOOK_PATH.fullmatch(name) and (root / name).with_suffix(".md").is_file():
                        chosen[name] = tar.extractfile(member).read()
    for name, data in sorted(chosen.items()):
        target = root / name
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        meta = _meta(json.loads(data.decode("utf-8")))
        print(f"  ✓ {name}: profile={meta.get('profile', '?')}, device={meta.get('device', '?')}, "
              f"{meta.get('duration_s', '?')} s, {meta.get('executed', '?')}")
    print(f"合并了 {len(chosen)} 个笔记本 (collected {len(chosen)} notebooks)")
    return 0


def pack(notebooks: list[Path], out: Path, root: Path = ROOT) -> int:
    """A tar of the recorded ``notebooks`` (paths relative to ``root``), written atomically."""
    tmp = out.with_name(f".{out.name}.tmp")
    count = 0
    with tarfile.open(tmp, "w") as tar:
        for nb in notebooks:
            if nb.is_file():
                tar.add(nb, arcname=nb.resolve().relative_to(root.resolve()).as_posix())
                count += 1
    os.replace(tmp, out)
    return count


# --- command line ------------------------------------------------------------------------------------

def add_collect_parser(sub) -> None:
    p = sub.add_parser("collect", help="merge executed notebooks from several machines (a tar each)")
    p.add_argument("tars", nargs="+", type=Path, help="archives such as tools/gpu_pass.py's recordings.tar")
    p.add_argument("--force", action="store_true", help="take downgrades too (full -> quick, cuda -> cpu, older)")


def cmd_collect(args, write_status=None) -> int:
    rc = collect(args.tars, ROOT, args.force)
    if rc == 0 and write_status is not None:
        write_status()
    return rc


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "tools"))
    import book  # the book's reading order
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("list", help="the sections of group K/N")
    q.add_argument("shard")
    q = sub.add_parser("pack", help="a tar of group K/N's recorded notebooks")
    q.add_argument("shard")
    q.add_argument("out", type=Path)
    args = p.parse_args(argv)
    group = pick(book.toc_sections(), args.shard)
    if args.cmd == "list":
        for md in group:
            print(md.relative_to(ROOT).as_posix())
        return 0
    count = pack([md.with_suffix(".ipynb") for md in group], args.out)
    print(f"{args.out}: {count} 个笔记本 (notebooks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
