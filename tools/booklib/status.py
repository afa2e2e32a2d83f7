"""The run statistics: chapters/status.md (执行统计) from the notebooks' metadata, and the status command."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from . import paths, staleness, toc


def write_status(out: Path | None = None) -> Path:
    """Write chapters/status.md (执行统计) from the notebooks' metadata."""
    import nbformat
    import yaml
    rows, waiting, outdated = [], [], []
    cpus: dict[str, int] = {}  # CPU model -> number of recordings made on it
    total = {"quick": 0.0, "full": 0.0}
    for md in toc.toc_sections():
        nb_path = md.with_suffix(".ipynb")
        title = md.stem
        lectures = ""
        if md.is_file():
            head = md.read_text(encoding="utf-8")
            fm = re.match(r"^---\n(.*?)\n---\n", head, re.S)
            if fm:
                try:
                    lectures = ", ".join(str(x) for x in (yaml.safe_load(fm.group(1)) or {}).get("lectures", []))
                except yaml.YAMLError as err:  # one broken section must not take the status page down
                    mark = getattr(err, "problem_mark", None)
                    line = f"第 {mark.line + 2} 行" if mark is not None else ""
                    print(f"  ✗ {paths.relative(md)}: 头部 YAML 有误{line}"
                          f"（invalid YAML front matter）：{getattr(err, 'problem', err)}", flush=True)
                    lectures = "?"
            t = re.search(r"^# (.+)$", head, re.M)
            title = t.group(1).strip() if t else title
        link = f"{{doc}}`{title} <{md.parent.name}/{md.stem}>`"
        if not nb_path.is_file():
            rows.append(f"| {link} | {lectures} | – | – | – | 未执行 |")
            waiting.append(link)
            continue
        nb = nbformat.read(nb_path, as_version=4)
        meta = nb.metadata.get("d2l", {})
        m = meta.get("metrics") or {}  # recorded as structured data by the helpers (facts.py)
        metric = ", ".join(f"{k}={v:.3f}" if v < 100 else f"{k}={v:.0f}"
                           for k, v in m.items() if v is not None) or "–"
        if staleness.helpers_changed_since_costly_recording(md, nb):
            outdated.append(link)
            metric += "（辅助模块已更新，待重新记录）"
        dur = meta.get("duration_s", 0.0)
        total[meta.get("profile", "quick")] = total.get(meta.get("profile", "quick"), 0.0) + dur
        if m and (meta.get("profile") != "full" or not str(meta.get("device", "")).startswith("cuda")):
            waiting.append(link)
        device = str(meta.get("device", "?"))
        if meta.get("cpu_capability") and not device.startswith("cuda"):
            device += f"（{meta['cpu_capability']}）"
        cpus[meta.get("cpu") or "未记录 (not recorded)"] = cpus.get(meta.get("cpu") or "未记录 (not recorded)", 0) + 1
        rows.append(f"| {link} | {lectures} | {meta.get('profile', '?')} | {device} "
                    f"| {dur:.1f} | {metric} |")
    text = ["# 执行统计", "",
            "本页由 `tools/book.py` 根据各节笔记本中记录的元数据自动生成：每一节最近一次执行所用的运行配置"
            "（profile）、设备、总用时（秒，含内核启动）以及训练类章节的最终指标。",
            # class d2l-status: _static/d2l.css shows the rows as cards on a phone
            "", ":::{table}", ":class: d2l-status", "",
            "| 章节 | 课程讲次 | profile | 设备 | 用时 (秒) | 最终指标 |", "|---|---|---|---|---|---|",
            *rows, ":::", "",
            f"合计：quick {total.get('quick', 0):.0f} 秒，full {total.get('full', 0):.0f} 秒。", "",
            "记录所用的 CPU（括号里是 torch 在这颗 CPU 上选用的向量指令集；换一种 CPU，"
            "训练结果会在各节测得的波动范围内变动，见 `tests/summary_spread.json`）：", "",
            *(f"- {name}：{count} 节" for name, count in sorted(cpus.items(), key=lambda kv: -kv[1])), "",
            # lists for the book's maintainers, folded (an admonition with class dropdown opens on a click)
            "::::{admonition} 维护者用：等待 GPU 上 full 配置记录的章节", ":class: dropdown", "",
            "下面这些训练类章节目前的记录来自 quick 配置或 CPU；有 GPU 时用 "
            "`python tools/book.py run --profile full <章节>` 重新记录（`run` 不会用更便宜的运行覆盖 full 或 GPU 记录）。",
            "", *(f"- {w}" for w in waiting), "", "::::", "",
            *(["::::{admonition} 维护者用：辅助模块更新后等待重新记录的章节", ":class: dropdown", "",
                "这些章节的记录来自 full 配置（GPU 或很长的 CPU 运行），在那之后它们用到的 `d2lutils` 模块改动过；"
                "记录仍是那次真实运行的结果，但要用当前代码的结果，需在 GPU 上用 `bash tools/gpu-pass.sh` 或 "
                "`python tools/book.py run --profile full <章节>` 重新记录。", "",
                *(f"- {w}" for w in outdated), "", "::::", ""] if outdated else [])]
    out = out or paths.ROOT / "chapters" / "status.md"   # tests pass a temporary path
    out.write_text("\n".join(text), encoding="utf-8")
    return out


def cmd_status(args: argparse.Namespace) -> int:
    """``status``: each section's recorded profile, device and staleness, then the rewritten status page."""
    for md in toc.toc_sections():
        meta = staleness.recorded(md)
        reason = staleness.stale_reason(md)
        rel = paths.relative(md)
        print(f"{str(rel):60s} {meta.get('profile', '未执行'):6s} {meta.get('device', '–'):8s}"
              f" {'过期 (stale): ' + reason if reason else '最新'}")
    print(write_status())
    return 0
