# Shared set-up for tools/build.sh and tools/test.sh (sourced, not run).
# Creates .venv when missing, installs the pinned requirements (again only when requirements.txt or
# pyproject.toml changed), installs the CJK font, Graphviz and Chromium when running as root, and points the data
# layer at ../shared/data when that folder exists.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="${D2L_VENV:-$ROOT/.venv}"

# The pinned requirements (numpy 2.4, pandas 3.1, matplotlib 3.11, ipython 9) need Python >= 3.11.
if ! found="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
  echo "找不到 Python：$PY (python not found): 用 PYTHON=/path/to/python3.11 指定" >&2; exit 2
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "需要 Python ≥ 3.11，找到的是 $found（$PY）；请安装 python3.11 或更新版本，并用 PYTHON=/path/to/python3.11 指定" \
       "(need Python >= 3.11, found $found)" >&2; exit 2
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "创建虚拟环境 (creating venv) $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.d2l-requirements.sha256"
want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "安装依赖 (installing pinned requirements; first time takes a few minutes) …"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
    | grep -v "^WARNING: Location 'file:" || true
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 \
    | grep -v "^WARNING: Location 'file:" || true
  "$VENV/bin/python" -c "import torch, torchvision, jupyter_book, papermill, nbval, d2lutils" \
    || { echo "依赖安装失败 (installing requirements failed)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# Diagrams in the book are Graphviz source drawn at build time: Debian's graphviz (`dot`).
if ! command -v dot >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "安装 Graphviz (installing graphviz) …"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz) >/dev/null
  else
    echo "提示：没有找到 Graphviz 的 dot，网页中的示意图无法生成；请安装 graphviz (no graphviz found)." >&2
  fi
fi

# Chinese glyphs in figures and pages: Debian's fonts-noto-cjk (only possible as root).
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "安装中文字体 (installing fonts-noto-cjk) …"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk) >/dev/null
    rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}/matplotlib"
  else
    echo "提示：没有找到中文字体，图中的中文会显示为方框；请安装 fonts-noto-cjk (no CJK font found)." >&2
  fi
fi

# The browser tests (tests/test_browser.py) drive Debian's chromium through playwright; playwright's
# own browser download needs the internet, so the system browser is used.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "安装 Chromium (installing chromium for the browser tests) …"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
      || echo "提示：chromium 安装失败，浏览器测试会跳过 (installing chromium failed: browser tests skip)." >&2
  else
    echo "提示：没有找到 chromium，浏览器测试会跳过；请安装 chromium (no chromium: browser tests skip)." >&2
  fi
fi

if [ -z "${D2L_DATA_MIRROR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export D2L_DATA_MIRROR="$(cd "$ROOT/../shared/data" && pwd)"
fi
export PATH="$VENV/bin:$PATH"
