"""Whether a section's recording is out of date: its .md or a d2lutils module it uses changed since."""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    from nbformat import NotebookNode


def sha256(path: Path) -> str:
    """The file's sha256 (hex): how a recording remembers its .md and helper modules."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_of(nb: NotebookNode) -> str:
    """The source of the notebook's code cells, one after another."""
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


# --- which d2lutils modules a section uses -------------------------------------------------------
# A recording is out of date when its .md changed, and also when a d2lutils module that its code
# uses changed. "Uses" is read statically: the names the code takes from the package
# (``d2l.train_ch6``, ``from d2lutils import detection``, ``d2lutils.train``), mapped to modules by
# the imports in d2lutils/__init__.py, plus every module those import in turn.


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
    pkg = pkg or paths.HELPERS
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
    pkg = pkg or paths.HELPERS
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
    pkg = pkg or paths.HELPERS
    return {f"{pkg.name}/{m}.py": sha256(pkg / f"{m}.py") for m in helper_modules(code, pkg)}


def changed_helpers(nb: NotebookNode) -> list[str]:
    """Helper files whose content differs from the recording's (``[]`` also when it is unknown:
    notebooks recorded before ``helpers_sha256`` existed are not forced to re-run)."""
    recorded_hashes = nb.metadata.get("d2l", {}).get("helpers_sha256")
    if recorded_hashes is None:
        return []
    now = helper_hashes(code_of(nb))
    return sorted(k for k in set(now) | set(recorded_hashes) if now.get(k) != recorded_hashes.get(k))


# --- a section's recording -----------------------------------------------------------------------


def recorded(md: Path) -> dict:
    """The ``metadata.d2l`` of the section's recorded notebook ({} when there is none)."""
    nb_path = md.with_suffix(".ipynb")
    if not nb_path.is_file():
        return {}
    import nbformat
    return dict(nbformat.read(nb_path, as_version=4).metadata.get("d2l", {}))


def costly_recording(nb: NotebookNode) -> bool:
    """A full-profile or GPU recording: cannot be redone on a CI-class CPU in minutes."""
    meta = nb.metadata.get("d2l", {})
    return meta.get("profile") == "full" or str(meta.get("device", "")).startswith("cuda")


def helpers_changed_since_costly_recording(md: Path, nb: NotebookNode) -> bool:
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
    """Not stale, and recorded in ``profile_requested`` when one is asked for."""
    if stale_reason(md):
        return False
    return profile_requested is None or recorded(md).get("profile") == profile_requested
