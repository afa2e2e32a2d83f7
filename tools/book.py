#!/usr/bin/env python3
"""The book's pipeline: execute sections with papermill, record outputs, build the HTML.

    python tools/book.py run [--all] [--profile auto|quick|full] [--force] [SECTION ...]
    python tools/book.py retext SECTION  # prose-only edit: update the notebook's text, keep its outputs
    python tools/book.py html            # status page + jupyter-book build (renders recorded outputs)
    python tools/book.py build [--all] [--profile P]   # run, then html
    python tools/book.py status          # only (re)write chapters/status.md
    python tools/book.py list            # sections in _toc.yml order
    python tools/book.py new PART NAME --lecture N [--title T]  # a new section from chapters/_template.md
    python tools/book.py pdf [SECTION ...]  # the PDF edition from the recorded notebooks (tools/pdf/)
    python tools/book.py run --shard K/N    # group K of N, balanced by run time; collect A.tar B.tar merges (tools/shard.py)

A section is ``chapters/<part>/<name>.md`` (the source people edit). ``run`` converts it with
jupytext, executes it with papermill (profile via $D2L_PROFILE, cwd = the chapter folder) and
writes the executed notebook to ``<name>.ipynb`` beside it, with profile, device, durations and
final metrics in ``metadata.d2l``. Without ``--all`` only sections whose ``.md`` changed since
their last recorded run, or that use a d2lutils module changed since then, are executed (the
modules a section uses — its ``d2l.<name>`` references, followed through the package's own
imports — and their sha256 are kept in ``metadata.d2l.helpers_sha256``; a notebook recorded
without that field counts as up to date). A failing cell fails the run and names the section; the
old ``.ipynb`` is then left untouched. A section keeps the profile and device class of its recording:
a ``full`` or GPU recording is never replaced by a cheaper run unless ``--force`` is given.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the book's own d2lutils, even without installing it

SETUP_RE = re.compile(r"运行配置：profile=(\w+), device=([\w:]+), torch=([^\s,]+)")
METRIC_RE = re.compile(r"训练损失 ([\d.]+), 训练精度 ([\d.]+), 测试精度 ([\d.]+)")
SPEED_RE = re.compile(r"([\d.]+) 样本/秒 \(([\w:]+)\)")
# language models (train_ch8) and seq2seq (train_seq2seq): 困惑度 1.3 / 损失 0.020, then 词元/秒
PPL_RE = re.compile(r"困惑度 ([\d.]+), ([\d.]+) 词元/秒 \(([\w:]+)\)")
SEQ_LOSS_RE = re.compile(r"(?<![\w])损失 ([\d.]+), ([\d.]+) 词元/秒 \(([\w:]+)\)")


def toc_sections() -> list[Path]:
    """Section sources (.md with a paired notebook) listed in _toc.yml, in reading order."""
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
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
        md = ROOT / (f if f.endswith(".md") else f + ".md")
        # chapters/<part>/<section>.md; chapters/<part>/index.md is the part's page, not a notebook
        if md.parent.parent.name == "chapters" and md.stem != "index":
            out.append(md)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- which d2lutils modules a section uses -------------------------------------------------------
# A recording is out of date when its .md changed, and also when a d2lutils module that its code
# uses changed. "Uses" is read statically: the names the code takes from the package
# (``d2l.train_ch6``, ``from d2lutils import detection``, ``d2lutils.train``), mapped to modules by
# the imports in d2lutils/__init__.py, plus every module those import in turn.
HELPERS = ROOT / "d2lutils"


def _package_imports(tree, package: str) -> set[str]:
    """Modules of ``package`` that one module's syntax tree imports (relative or absolute)."""
    import ast
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 1 or (node.module or "").split(".")[0] == package:
                mod = node.module or ""
                if node.level == 0:
                    mod = mod.partition(".")[2]
                if mod:
                    out.add(mod.split(".")[0])
                else:  # from . import a, b
                    out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                head, _, mod = a.name.partition(".")
                if head == package and mod:
                    out.add(mod.split(".")[0])
    return out


def helper_index(pkg: Path | None = None) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(exported name -> module, module -> modules it imports) for the helper package."""
    pkg = pkg or HELPERS
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(pkg.glob("*.py")))
    return _helper_index(pkg, stamp)


@functools.lru_cache(maxsize=8)
def _helper_index(pkg: Path, stamp: tuple) -> tuple[dict[str, str], dict[str, set[str]]]:
    import ast
    modules = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"}
    names: dict[str, str] = {m: m for m in modules}  # d2l.<module> works once __init__ imported it
    init = ast.parse((pkg / "__init__.py").read_text(encoding="utf-8"))
    for node in init.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for a in node.names:
                target = node.module.split(".")[0] if node.module else a.name
                if target in modules:
                    names[a.asname or a.name] = target
    deps = {m: _package_imports(ast.parse((pkg / f"{m}.py").read_text(encoding="utf-8")), pkg.name) & modules
            for m in modules}
    return names, deps


def helper_modules(code: str, pkg: Path | None = None) -> list[str]:
    """The helper modules (file stems) that ``code`` uses, directly or through other helpers."""
    pkg = pkg or HELPERS
    names, deps = helper_index(pkg)
    package = re.escape(pkg.name)
    aliases = {"d2l", pkg.name, *re.findall(rf"import\s+{package}\s+as\s+(\w+)", code)}
    used: set[str] = set()
    for alias in aliases:
        used.update(re.findall(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", code))
    for names_list in re.findall(rf"from\s+{package}\s+import\s+(\([^)]*\)|[^\n]+)", code):
        used.update(re.findall(r"\w+", re.sub(r"\bas\s+\w+", "", names_list.strip("()"))))
    used.update(re.findall(rf"from\s+{package}\.(\w+)\s+import", code))
    todo = [names[n] for n in used if n in names]
    found: set[str] = set()
    while todo:
        m = todo.pop()
        if m not in found:
            found.add(m)
            todo.extend(deps.get(m, ()))
    return sorted(found)


def helper_hashes(code: str, pkg: Path | None = None) -> dict[str, str]:
    """``{"d2lutils/train.py": sha256, …}`` for the helper modules that ``code`` uses."""
    pkg = pkg or HELPERS
    return {f"{pkg.name}/{m}.py": sha256(pkg / f"{m}.py") for m in helper_modules(code, pkg)}


def code_of(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def changed_helpers(nb) -> list[str]:
    """Helper files whose content differs from the recording's (``[]`` also when it is unknown:
    notebooks recorded before ``helpers_sha256`` existed are not forced to re-run)."""
    recorded_hashes = nb.metadata.get("d2l", {}).get("helpers_sha256")
    if recorded_hashes is None:
        return []
    now = helper_hashes(code_of(nb))
    return sorted(k for k in set(now) | set(recorded_hashes) if now.get(k) != recorded_hashes.get(k))


def resolve(spec: str) -> Path:
    p = Path(spec)
    if not p.is_absolute():
        p = (Path.cwd() / p) if (Path.cwd() / p).exists() else ROOT / p
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


def notebook_text(cells) -> str:
    parts = []
    for c in cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif "data" in o and "text/plain" in o["data"]:
                parts.append(o["data"]["text/plain"])
    return "\n".join(parts)


def body_cells(cells) -> list:
    """The cells before the exercises (``## 练习``): the section's own results, not the answers'."""
    for i, c in enumerate(cells):
        if c.cell_type == "markdown" and re.match(r"^## 练习", c.source.strip()):
            return cells[:i]
    return list(cells)


def read_run_facts(nb) -> dict:
    """Profile, device and the section's headline metrics, read back from what the notebook printed.

    The headline result is the first training run of the section body (the exercises' runs and
    later side experiments do not count): its metric line and the speed line of the same cell.
    """
    facts: dict = {}
    m = SETUP_RE.search(notebook_text(nb.cells))
    if m:
        facts.update(profile=m.group(1), device=m.group(2), torch=m.group(3))
    runs = printed_runs(nb)
    if runs:
        facts["metrics"] = runs[0]
    return facts


def printed_runs(nb) -> list[dict]:
    """Every training summary the section body printed, in order, as metric dicts (a section may print
    its own from-scratch loop's line in the same format before a d2lutils trainer's)."""
    runs = []
    for cell in body_cells(nb.cells):
        text = notebook_text([cell])
        for m in PPL_RE.finditer(text):
            runs.append({"perplexity": float(m.group(1)), "tokens_per_sec": float(m.group(2))})
        for m in SEQ_LOSS_RE.finditer(text):
            runs.append({"loss": float(m.group(1)), "tokens_per_sec": float(m.group(2))})
        speed = SPEED_RE.search(text)
        for m in METRIC_RE.finditer(text):
            run = {"train_loss": float(m.group(1)), "train_acc": float(m.group(2)), "test_acc": float(m.group(3))}
            if speed:
                run["examples_per_sec"] = float(speed.group(1))
            runs.append(run)
    return runs


def recorded_metrics_printed(nb) -> bool:
    """Whether the metrics stored at run time (``metadata.d2l.metrics``) equal one of the printed
    summaries, within printed precision (3 decimals for loss/accuracy, 1 for speeds and perplexity).
    False also when the body prints a summary but nothing was stored."""
    stored = nb.metadata.get("d2l", {}).get("metrics", {})
    runs = printed_runs(nb)
    if not stored:
        return not runs

    def same(printed: dict) -> bool:
        return all(k in printed and abs(printed[k] - v) <= (0.05 if k.endswith("per_sec") or k == "perplexity"
                                                             else 5e-4) + 1e-9
                   for k, v in stored.items() if v is not None)
    return any(same(r) for r in runs)


def clean_cell_metadata(nb) -> None:
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        pm = cell.metadata.pop("papermill", None)
        if cell.cell_type == "code" and pm is not None:
            cell.metadata["papermill"] = {"duration": round(pm.get("duration") or 0.0, 3)}
        if not cell.metadata.get("tags", True):
            cell.metadata.pop("tags")


def default_threads() -> int:
    import torch
    return torch.get_num_threads()


FACT_TAG = "d2l-facts"  # cells that book.py adds around a run and removes afterwards


def with_fact_cells(nb):
    """A copy of ``nb`` with two hidden cells: ``facts.freeze()`` before ``## 练习`` (the exercises' runs
    are not the section's result) and ``facts.emit()`` at the end. Returns (copy, index of the freeze
    cell or None). Sections that do not use d2lutils get none."""
    import copy
    import nbformat
    run_nb = copy.deepcopy(nb)
    if "d2lutils" not in code_of(nb):
        return run_nb, None

    def cell(source):
        return nbformat.v4.new_code_cell(source, metadata={"tags": [FACT_TAG]})
    freeze_at = None
    for i, c in enumerate(run_nb.cells):
        if c.cell_type == "markdown" and re.match(r"^## 练习", c.source.strip()):
            run_nb.cells.insert(i, cell("import d2lutils.facts\nd2lutils.facts.freeze()"))
            freeze_at = i
            break
    run_nb.cells.append(cell("import d2lutils.facts\nd2lutils.facts.emit()"))
    return run_nb, freeze_at


def pop_fact_cells(nb) -> dict:
    """Remove the cells added by ``with_fact_cells`` from the executed ``nb``; return the facts they emitted."""
    import json
    found: dict = {}
    kept = []
    for c in nb.cells:
        if FACT_TAG in c.get("metadata", {}).get("tags", []):
            for o in c.get("outputs", []):
                data = o.get("data", {}).get("application/vnd.d2l.facts+json")
                if data is not None:
                    found = json.loads(data) if isinstance(data, str) else dict(data)
        else:
            kept.append(c)
    nb.cells = kept
    return found


def keep_failed(md: Path, executed: Path) -> None:
    """With $D2L_KEEP_FAILED set, keep the notebook of a failed run there (``<name>.failed.ipynb``) for
    diagnosis -- e.g. on a lent GPU, where a rerun costs scarce time. Never beside the section."""
    keep = os.environ.get("D2L_KEEP_FAILED")
    if keep and executed.is_file():
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(executed, Path(keep) / f"{md.stem}.failed.ipynb")


def cpu_facts() -> dict:
    """The CPU that made a recording: its model and the vector instructions torch's kernels use there.
    Another CPU model may pick other kernels and sum in another order (see tools/spread.py)."""
    import platform
    import torch
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "CPU implementer", "CPU part") and key not in info:
                info[key] = value.strip()
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']} model {info['model']})"
    elif "CPU part" in info:
        name += f" (implementer {info.get('CPU implementer', '?')} part {info['CPU part']})"
    return {"cpu": name, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


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
    run_nb, freeze_at = with_fact_cells(nb)
    if prelude:
        run_nb.cells.insert(0, nbformat.v4.new_code_cell(prelude, metadata={"tags": [FACT_TAG]}))
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
    helper_facts = pop_fact_cells(done)
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
    if re.search(r"\bd2l\.glue\(", code_of(nb)) and not glued:
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
    facts = read_run_facts(done)  # older recordings and sections that train without d2lutils
    if helper_facts.get("setup"):
        facts.update({k: helper_facts["setup"][k] for k in ("profile", "device", "torch") if k in helper_facts["setup"]})
        facts["threads"] = helper_facts["setup"].get("threads")
    if helper_facts.get("metrics"):
        facts["metrics"] = helper_facts["metrics"]
    done.metadata["d2l"] = {
        "source_sha256": sha256(md),
        "profile": facts.get("profile", profile),
        "device": facts.get("device", "unknown"),
        "torch": facts.get("torch", "unknown"),
        "threads": facts.get("threads"),
        "duration_s": round(seconds, 1),
        "executed": dt.date.today().isoformat(),
        "metrics": facts.get("metrics", {}),
        **cpu_facts(),  # a CPU recording's numbers may move a little on another CPU model (tools/spread.py)
        # the d2lutils modules this code uses: a change to one of them makes the recording stale
        "helpers_sha256": helper_hashes(code_of(nb)),
    }
    target = md.with_suffix(".ipynb")
    tmp_target = target.with_name(f".{target.name}.tmp")
    nbformat.write(done, tmp_target)
    os.replace(tmp_target, target)
    return True, f"{seconds:.1f} s, profile={done.metadata['d2l']['profile']}, device={done.metadata['d2l']['device']}"


def costly_recording(nb) -> bool:
    """A full-profile or GPU recording: cannot be redone on a CI-class CPU in minutes."""
    meta = nb.metadata.get("d2l", {})
    return meta.get("profile") == "full" or str(meta.get("device", "")).startswith("cuda")


def helpers_changed_since_costly_recording(md: Path, nb) -> bool:
    """A costly recording whose .md is unchanged but whose helpers changed since: kept (it is a real run
    of the code of its day) and listed on the status page as waiting to be re-recorded."""
    meta = nb.metadata.get("d2l", {})
    return (costly_recording(nb) and meta.get("source_sha256") == sha256(md)
            and bool(changed_helpers(nb)))


def stale_reason(md: Path) -> str:
    """Why the recording of ``md`` is out of date ("" when it is not): no notebook, the .md changed,
    or a d2lutils module that the section uses changed since it was recorded."""
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return "未执行 (not run yet)"
    import nbformat
    nb = nbformat.read(nb_path, as_version=4)
    if nb.metadata.get("d2l", {}).get("source_sha256") != sha256(md):
        return ".md 已改动 (.md changed)"
    helpers = changed_helpers(nb)
    if helpers:
        return f"辅助模块改动了 (helpers changed): {', '.join(helpers)}"
    return ""


def up_to_date(md: Path, profile_requested: str | None) -> bool:
    if stale_reason(md):
        return False
    return profile_requested is None or recorded(md).get("profile") == profile_requested


def recorded(md: Path) -> dict:
    """The ``metadata.d2l`` of the section's recorded notebook ({} when there is none)."""
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return {}
    import nbformat
    return dict(nbformat.read(nb_path, as_version=4).metadata.get("d2l", {}))


def choose_profile(md: Path, requested: str | None, default: str, force: bool,
                   have_cuda: bool) -> tuple[str | None, str]:
    """Which profile to run ``md`` in, or (None, why) when running it would lose a better recording.

    Without ``--profile`` a section keeps the profile it was recorded in (a ``full`` recording is
    re-run in ``full``). A ``full`` recording is never replaced by a ``quick`` one, and a GPU recording
    never by a run on a machine without CUDA, unless ``--force`` says so.
    """
    meta = recorded(md)
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


def cmd_run(args) -> int:
    sys.path.insert(0, str(ROOT))
    import torch
    from d2lutils.config import resolve_profile
    requested = resolve_profile(args.profile) if args.profile else None
    default = resolve_profile(None)
    have_cuda = torch.cuda.is_available()
    sections = [resolve(s) for s in args.sections] if args.sections else toc_sections()
    if getattr(args, "shard", None):  # one machine of several: tools/shard.py
        from shard import pick
        sections = pick(sections, args.shard)
    failed, kept = [], []
    for md in sections:
        rel = md.relative_to(ROOT) if md.is_relative_to(ROOT) else md
        if not md.is_file():
            print(f"  ✗ {rel}: 文件不存在 (missing; listed in _toc.yml?)")
            failed.append(str(rel))
            continue
        if not args.all and not args.sections:
            if up_to_date(md, requested):
                print(f"  最新，跳过 (up to date)  {rel}")
                continue
            reason = stale_reason(md)
            if reason:
                print(f"  过期 (stale) {rel}: {reason}", flush=True)
        profile, why = choose_profile(md, requested, default, args.force, have_cuda)
        if profile is None:
            reason = stale_reason(md)
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
    if set(sections) & set(toc_sections()):  # only the book's own sections update its status page
        write_status()
    if kept:
        print("保留了原有记录的章节 (recordings kept): " + ", ".join(kept))
    if failed:
        print("执行失败的章节 (failed sections): " + ", ".join(failed))
        return 1
    return 0


def retext(md: Path) -> tuple[bool, str]:
    """Carry prose-only edits of ``md`` into its recorded notebook without executing anything.

    Allowed only when every code cell (source and tags) is unchanged since the recording, so the
    recorded outputs are still exactly what this code printed. Markdown cells are replaced and the
    source hash is updated; otherwise nothing is written and the reason is returned.
    """
    import jupytext
    import nbformat
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return False, "没有记录过的笔记本，请用 run 执行 (no recorded notebook: use run)"
    nb = nbformat.read(nb_path, as_version=4)
    src = jupytext.read(md)
    old_code = [c for c in nb.cells if c.cell_type == "code"]
    new_code = [c for c in src.cells if c.cell_type == "code"]
    same = len(old_code) == len(new_code) and all(
        (a.source.strip() == b.source.strip() or (_is_colab_cell(a) and _is_colab_cell(b)))
        and a.metadata.get("tags", []) == b.metadata.get("tags", [])
        for a, b in zip(old_code, new_code))
    if not same:
        return False, "代码单元格改动了，需要重新执行 (code cells changed: use run)"
    outputs = iter(old_code)
    cells = []
    for cell in src.cells:
        if cell.cell_type == "code":
            recorded = next(outputs)
            if _is_colab_cell(cell):  # it does nothing outside Colab: take the new source as it is
                recorded.source = cell.source
            cells.append(recorded)
        else:
            cell.metadata.pop("lines_to_next_cell", None)
            cells.append(cell)
    nb.cells = cells
    nb.metadata.setdefault("d2l", {})["source_sha256"] = sha256(md)
    tmp = nb_path.with_name(f".{nb_path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, nb_path)
    return True, "只更新了文字，输出保持原样 (prose updated, outputs kept)"


COLAB_GUARD = 'import sys\nif "google.colab" in sys.modules:'
REPO_RE = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+?(?=[\"/\s]|$)")


def _is_colab_cell(cell) -> bool:
    """The install cell that only acts on Colab (no outputs anywhere else)."""
    return cell.source.lstrip().startswith(COLAB_GUARD) and not cell.get("outputs")


def repository_url() -> str:
    """The book's repository: ``repository.url`` in _config.yml, the one place it is set."""
    import yaml
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"].rstrip("/")


def repository_url_files() -> list[Path]:
    """Every file that must repeat the repository URL (Colab cells, the helper's data mirror, README)."""
    return [ROOT / "d2lutils" / "hub.py", ROOT / "README.md", ROOT / "chapters" / "_template.md",
            *[md for md in toc_sections() if md.is_file()]]


def cmd_set_repo(args) -> int:
    """Change the repository URL in _config.yml and everywhere that repeats it, then retext sections."""
    old, new = repository_url(), args.url.rstrip("/")
    if not REPO_RE.fullmatch(new):
        raise SystemExit(f"需要 https://github.com/<owner>/<repo> 形式的地址（need a GitHub URL）: {new!r}")
    old_raw = old.replace("https://github.com/", "https://raw.githubusercontent.com/")
    new_raw = new.replace("https://github.com/", "https://raw.githubusercontent.com/")
    for path in [ROOT / "_config.yml", *repository_url_files()]:
        text = path.read_text(encoding="utf-8")
        changed = text.replace(old, new).replace(old_raw, new_raw)
        if changed != text:
            path.write_text(changed, encoding="utf-8")
            if path.parent.parent.name == "chapters" and path.with_suffix(".ipynb").is_file():
                ok, msg = retext(path)
                if not ok:
                    print(f"  ✗ {path.relative_to(ROOT)}: {msg}")
    print(f"仓库地址已改为 (repository set to) {new}")
    return 0


def cmd_retext(args) -> int:
    rc = 0
    for spec in args.sections:
        md = resolve(spec)
        ok, msg = retext(md)
        print(f"  {'✓' if ok else '✗'} {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md}: {msg}")
        rc |= not ok
    return rc


def write_status(out: Path | None = None) -> Path:
    """Write chapters/status.md (执行统计) from the notebooks' metadata."""
    import nbformat
    import yaml
    rows, waiting, outdated = [], [], []
    cpus: dict[str, int] = {}  # CPU model -> number of recordings made on it
    total = {"quick": 0.0, "full": 0.0}
    for md in toc_sections():
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
                    print(f"  ✗ {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md}: 头部 YAML 有误{line}"
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
        if helpers_changed_since_costly_recording(md, nb):
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
    out = out or ROOT / "chapters" / "status.md"   # tests pass a temporary path
    out.write_text("\n".join(text), encoding="utf-8")
    return out


TEMPLATE = ROOT / "chapters" / "_template.md"


def new_section(part: str, name: str, lecture: int, title: str | None = None,
                chapters: Path | None = None) -> Path:
    """Write ``chapters/<part>/<name>.md`` from chapters/_template.md; refuses to overwrite."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", part) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise SystemExit(f"部分和章节名只用小写字母、数字和 - (part/name: lowercase, digits, -): {part}/{name}")
    md = (chapters or ROOT / "chapters") / part / f"{name}.md"
    if md.exists():
        raise SystemExit(f"{md} 已存在，不覆盖 (exists; not overwritten)")
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in {"__LECTURE2__": f"{lecture:02d}", "__LECTURE__": str(lecture), "__PART__": part,
                       "__NAME__": name, "__TITLE__": title or name}.items():
        text = text.replace(key, value)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text, encoding="utf-8")
    return md


def cmd_html(args) -> int:
    write_status()
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going", str(ROOT)]
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT)
    if rc == 0:
        print(f"HTML 已生成 (book built): {ROOT / '_build' / 'html' / 'index.html'}")
    return rc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("run", "build"):
        p = sub.add_parser(name)
        p.add_argument("sections", nargs="*", help="chapters/<part>/<name>.md (default: all in _toc.yml)")
        p.add_argument("--all", action="store_true", help="execute every section, changed or not")
        p.add_argument("--profile", default=None, help="auto | quick | full (default: $D2L_PROFILE or auto)")
        p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
        p.add_argument("--force", action="store_true",
                       help="replace full-profile or GPU recordings even with a cheaper run")
        p.add_argument("--shard", default=None, metavar="K/N",
                       help="only group K of N, balanced by recorded run time (tools/shard.py)")
    p = sub.add_parser("set-repo", help="change the repository URL everywhere (Colab cells, hub.py, README)")
    p.add_argument("url")
    p = sub.add_parser("retext", help="carry prose-only edits into the notebook without executing")
    p.add_argument("sections", nargs="+")
    p = sub.add_parser("new", help="start a section from chapters/_template.md")
    p.add_argument("part", help="folder under chapters/, e.g. linear-networks")
    p.add_argument("name", help="section file name without .md, e.g. weight-decay")
    p.add_argument("--lecture", type=int, required=True, help="course lecture number")
    p.add_argument("--title", default=None, help="the section's heading (default: NAME)")
    sub.add_parser("html")
    sub.add_parser("status")
    sub.add_parser("list")
    from pdf.cli import add_parser as add_pdf_parser
    from shard import add_collect_parser
    add_pdf_parser(sub)
    add_collect_parser(sub)
    args = parser.parse_args(argv)
    if args.cmd == "pdf":
        from pdf.cli import cmd_pdf
        return cmd_pdf(args, resolve, toc_sections, write_status)
    if args.cmd == "collect":
        from shard import cmd_collect
        return cmd_collect(args, write_status)
    if args.cmd == "run":
        return cmd_run(args)
    if args.cmd == "build":
        rc = cmd_run(args)
        return rc or cmd_html(args)
    if args.cmd == "html":
        return cmd_html(args)
    if args.cmd == "retext":
        return cmd_retext(args)
    if args.cmd == "set-repo":
        return cmd_set_repo(args)
    if args.cmd == "new":
        md = new_section(args.part, args.name, args.lecture, args.title)
        rel = md.relative_to(ROOT) if md.is_relative_to(ROOT) else md
        print(f"已生成 (written) {rel}；写好后加入 _toc.yml 并运行 python tools/book.py run {rel}")
        return 0
    if args.cmd == "status":
        for md in toc_sections():
            meta = recorded(md)
            reason = stale_reason(md)
            rel = md.relative_to(ROOT) if md.is_relative_to(ROOT) else md
            print(f"{str(rel):60s} {meta.get('profile', '未执行'):6s} {meta.get('device', '–'):8s}"
                  f" {'过期 (stale): ' + reason if reason else '最新'}")
        print(write_status())
        return 0
    for md in toc_sections():
        print(md.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
