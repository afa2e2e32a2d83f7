#!/usr/bin/env bash
# The book's GPU pass on a lent, offline GPU machine: benchmarks, then full-profile recordings of the
# GPU-hungriest sections, within a time budget; results land in OUT as they finish (see tools/gpu_pass.py).
#
#   bash tools/gpu-pass.sh BUDGET_SECONDS OUT_DIR [SECTION ...]
#
# The machine has torch but not the notebook stack and no CJK font, and cannot download. Prepare here:
#   .whl/      papermill, jupytext, ipykernel, myst-nb … as cp312 wheels (pip download --only-binary=:all: …;
#              myst-nb with --no-deps: d2l.glue needs only its `glue`, without it glued numbers are lost)
#   .gpufont/  a CJK font (e.g. Noto Sans CJK SC subset to the book's characters with pyftsubset)
# Both are optional: what the machine already has is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
budget="${1:?用法 (usage): bash tools/gpu-pass.sh BUDGET_SECONDS OUT_DIR [SECTION ...]}"
out="${2:?用法 (usage): bash tools/gpu-pass.sh BUDGET_SECONDS OUT_DIR [SECTION ...]}"
shift 2
start=$SECONDS
PY="${PYTHON:-python3}"
if ! "$PY" -c "import papermill, jupytext, ipykernel, myst_nb" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/d2l-site .whl/*.whl
    export PYTHONPATH="/tmp/d2l-site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$PY" -c "import papermill, jupytext, ipykernel, myst_nb" \
    || { echo "缺少 papermill/jupytext/ipykernel/myst_nb (missing; put wheels in .whl/)" >&2; exit 1; }
fi
shopt -s nullglob
fonts=(.gpufont/*.otf .gpufont/*.ttf .gpufont/*.ttc)
shopt -u nullglob
if [ ${#fonts[@]} -gt 0 ]; then
  mkdir -p "$HOME/.local/share/fonts" && cp "${fonts[@]}" "$HOME/.local/share/fonts/"
  rm -rf "${MPLCONFIGDIR:-$HOME/.cache/matplotlib}"  # matplotlib rebuilds its font list with the new font
fi
# The notebooks import d2lutils from this checkout (the device machine does not `pip install -e .`).
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
left=$(( budget - (SECONDS - start) ))
exec "$PY" tools/gpu_pass.py --budget "$left" --out "$out" "$@"
