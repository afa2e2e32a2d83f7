"""Executing sections with papermill: one run of a section, its recording beside the .md, the run command."""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import facts, paths, staleness, status, toc

if TYPE_CHECKING:
    from nbformat import NotebookNode


def clean_cell_metadata(nb: NotebookNode) -> None:
    """Drop the per-run cell metadata (timestamps), keep each code cell's duration rounded to ms."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        pm = cell.metadata.pop("papermill", None)
        if cell.cell_type == "code" and pm is not None:
            cell.metadata["papermill"] = {"duration": round(pm.get("duration") or 0.0, 3)}
        if not cell.metadata.get("tags", True):
            cell.metadata.pop("tags")


def default_threads() -> int:
    """torch's default thread count: what a recording uses unless $D2L_NUM_THREADS is set."""
    import torch
    return torch.get_num_threads()


def keep_failed(md: Path, executed: Path) -> None:
    """With $D2L_KEEP_FAILED set, keep the notebook of a failed run there (``<name>.failed.ipynb``) for
    diagnosis -- e.g. on a lent GPU, where a rerun costs scarce time. Never beside the section."""
    keep = os.environ.get("D2L_KEEP_FAILED")
    if keep and executed.is_file():
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(executed, Path(keep) / f"{md.stem}.failed.ipynb")


def run_notebook(md: Path, profile: str, timeout: int, prelude: str | None = None,
                 env: dict | None = None) -> tuple[bool, str, object, float, dict]:
    """Execute one section without writing anything beside it.

    ``prelude`` is code run in a hidden first cell (tools/spread.py uses it to change the arithmetic the
    way another machine would); ``env`` adds environment variables for the run. Returns (ok, message,
    executed notebook or None, seconds, the facts the helpers emitted)."""
    import jupytext
    import nbformat
    import papermill as pm

    try:
        nb = jupytext.read(md)
    except Exception as err:  # e.g. invalid YAML front matter: name the file, not just the parser
        return False, f"无法读取 {md}（cannot read the section）：{type(err).__name__}: {str(err)[:400]}", None, 0.0, {}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    run_nb, freeze_at = facts.with_fact_cells(nb)
    if prelude:
        run_nb.cells.insert(0, nbformat.v4.new_code_cell(prelude, metadata={"tags": [facts.FACT_TAG]}))
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
    nb.metadata["jupytext"].pop("text_representation", None)
    env = dict(env or {})
    env_backup = {k: os.environ.get(k) for k in {"D2L_PROFILE", "D2L_PROGRESS", "D2L_NUM_THREADS", *env}}
    os.environ["D2L_PROFILE"] = profile
    os.environ["D2L_PROGRESS"] = "0"
    # A recording uses a fixed thread count (torch's default unless set), not the load-dependent choice
    # d2l.setup() makes for readers: the same machine then records the same numbers.
    os.environ.setdefault("D2L_NUM_THREADS", str(default_threads()))
    os.environ.update(env)
    tmpdir = Path(tempfile.mkdtemp(prefix="d2lbook-"))
    src, out = tmpdir / "in.ipynb", tmpdir / "out.ipynb"
    nbformat.write(run_nb, src)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(src), str(out), kernel_name="python3", cwd=str(md.parent),
                            progress_bar=False, log_output=False, execution_timeout=timeout,
                            request_save_on_cell_execute=False)
    except Exception as err:  # papermill raises PapermillExecutionError with the traceback
        keep_failed(md, out)
        shutil.rmtree(tmpdir, ignore_errors=True)
        lines = str(err).strip().splitlines()
        where = ""
        if getattr(err, "cell_index", None) is not None:
            index = err.cell_index - bool(prelude)
            index -= freeze_at is not None and index > freeze_at
            where = (f"第 {index + 1} 个单元格出错（cell {index + 1} failed）：\n"
                     f"{(getattr(err, 'source', '') or '')[:800]}\n---\n")
        return False, where + "\n".join(lines[-15:]), None, 0.0, {}
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    done = nbformat.read(out, as_version=4)
    helper_facts = facts.pop_fact_cells(done)
    # A warning on stderr would be rejected by the tests and the HTML build: report it now.
    for i, cell in enumerate(done.cells):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                keep_failed(md, out)
                shutil.rmtree(tmpdir, ignore_errors=True)
                return False, (f"第 {i + 1} 个单元格向 stderr 写了内容（a cell wrote to stderr）：\n"
                               f"{o.get('text', '')[:600]}\n单元格源码 (cell source):\n{cell.source[:600]}"), None, 0.0, {}
    # d2l.glue silently records nothing where myst-nb is missing (e.g. a bare GPU machine): the prose
    # would then quote nothing. Refuse such a recording here rather than in the HTML build.
    glued = sum(1 for c in done.cells for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {}))
    if re.search(r"\bd2l\.glue\(", staleness.code_of(nb)) and not glued:
        keep_failed(md, out)
        shutil.rmtree(tmpdir, ignore_errors=True)
        return False, ("d2l.glue 没有记录任何值：这个环境里没有 myst-nb（pip install myst-nb）"
                       "(d2l.glue recorded nothing: myst-nb is not installed here)"), None, 0.0, {}
    shutil.rmtree(tmpdir, ignore_errors=True)
    done.metadata.pop("papermill", None)
    clean_cell_metadata(done)
    # Stable cell ids: a run that changes nothing leaves the notebook's cells unchanged.
    for i, cell in enumerate(done.cells):
        cell["id"] = f"c{i:03d}-{hashlib.sha256(cell.source.encode('utf-8')).hexdigest()[:8]}"
    return True, "", done, seconds, helper_facts


def execute(md: Path, profile: str, timeout: int) -> tuple[bool, str]:
    """Execute one section; on success write the paired .ipynb. Returns (ok, message)."""
    ok, message, done, seconds, helper_facts = run_notebook(md, profile, timeout)
    if not ok:
        return False, message
    import jupytext
    import nbformat
    nb = jupytext.read(md)
    run_facts = facts.read_run_facts(done)  # older recordings and sections that train without d2lutils
    if helper_facts.get("setup"):
        run_facts.update({k: helper_facts["setup"][k] for k in ("profile", "device", "torch")
                          if k in helper_facts["setup"]})
        run_facts["threads"] = helper_facts["setup"].get("threads")
    if helper_facts.get("metrics"):
        run_facts["metrics"] = helper_facts["metrics"]
    done.metadata["d2l"] = {
        "source_sha256": staleness.sha256(md),
        "profile": run_facts.get("profile", profile),
        "device": run_facts.get("device", "unknown"),
        "torch": run_facts.get("torch", "unknown"),
        "threads": run_facts.get("threads"),
        "duration_s": round(seconds, 1),
        "executed": dt.date.today().isoformat(),
        "metrics": run_facts.get("metrics", {}),
        **facts.cpu_facts(),  # a CPU recording's numbers may move a little on another CPU model (tools/spread.py)
        # the d2lutils modules this code uses: a change to one of them makes the recording stale
        "helpers_sha256": staleness.helper_hashes(staleness.code_of(nb)),
    }
    target = md.with_suffix(".ipynb")
    tmp_target = target.with_name(f".{target.name}.tmp")
    nbformat.write(done, tmp_target)
    os.replace(tmp_target, target)
    return True, f"{seconds:.1f} s, profile={done.metadata['d2l']['profile']}, device={done.metadata['d2l']['device']}"


def choose_profile(md: Path, requested: str | None, default: str, force: bool,
                   have_cuda: bool) -> tuple[str | None, str]:
    """Which profile to run ``md`` in, or (None, why) when running it would lose a better recording.

    Without ``--profile`` a section keeps the profile it was recorded in (a ``full`` recording is
    re-run in ``full``). A ``full`` recording is never replaced by a ``quick`` one, and a GPU recording
    never by a run on a machine without CUDA, unless ``--force`` says so.
    """
    meta = staleness.recorded(md)
    rec_profile, rec_device = meta.get("profile"), str(meta.get("device", ""))
    profile = requested or rec_profile or default
    if force:
        return profile, ""
    if rec_profile == "full" and profile == "quick":
        return None, ("记录的是 full 配置的结果，不会用 quick 覆盖；确实要覆盖请加 --profile quick --force "
                      "(recorded in the full profile; add --profile quick --force to replace it)")
    if rec_device.startswith("cuda") and not have_cuda:
        return None, (f"记录来自 GPU（{rec_device}），本机没有 CUDA，不会覆盖；确实要覆盖请加 --force "
                      f"(recorded on {rec_device}; this machine has no CUDA; add --force to replace it)")
    return profile, ""


def cmd_run(args: argparse.Namespace) -> int:
    """``run``: execute the changed (or the named, or ``--all``) sections, then rewrite the status page."""
    sys.path.insert(0, str(paths.ROOT))
    import torch
    from d2lutils.config import resolve_profile
    requested = resolve_profile(args.profile) if args.profile else None
    default = resolve_profile(None)
    have_cuda = torch.cuda.is_available()
    sections = [toc.resolve(s) for s in args.sections] if args.sections else toc.toc_sections()
    if getattr(args, "shard", None):  # one machine of several: tools/shard.py
        from shard import pick
        sections = pick(sections, args.shard)
    failed, kept = [], []
    for md in sections:
        rel = paths.relative(md)
        if not md.is_file():
            print(f"  ✗ {rel}: 文件不存在 (missing; listed in _toc.yml?)")
            failed.append(str(rel))
            continue
        if not args.all and not args.sections:
            if staleness.up_to_date(md, requested):
                print(f"  最新，跳过 (up to date)  {rel}")
                continue
            reason = staleness.stale_reason(md)
            if reason:
                print(f"  过期 (stale) {rel}: {reason}", flush=True)
        profile, why = choose_profile(md, requested, default, args.force, have_cuda)
        if profile is None:
            reason = staleness.stale_reason(md)
            stale = f"；注意：这一节的记录已过期 (stale)：{reason}" if reason else ""
            print(f"  保留记录，跳过 (kept) {rel}: {why}{stale}", flush=True)
            kept.append(str(rel))
            continue
        print(f"▶ 执行 (executing) {rel} [profile={profile}] …", flush=True)
        ok, msg = execute(md, profile, args.timeout)
        if ok:
            print(f"  ✓ {rel}: {msg}", flush=True)
        else:
            print(f"  ✗ {rel} 执行失败 (failed):\n{msg}", flush=True)
            failed.append(str(rel))
    if set(sections) & set(toc.toc_sections()):  # only the book's own sections update its status page
        status.write_status()
    if kept:
        print("保留了原有记录的章节 (recordings kept): " + ", ".join(kept))
    if failed:
        print("执行失败的章节 (failed sections): " + ", ".join(failed))
        return 1
    return 0
