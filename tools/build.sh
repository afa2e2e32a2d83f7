#!/usr/bin/env bash
# README command 1: set up, execute the sections whose .md changed (papermill, profile auto),
# and build the HTML book.  Options are passed to `tools/book.py run`, e.g. --all, --profile full.
# `bash tools/build.sh --pdf` builds only the PDF (_build/pdf/book.pdf) from the recorded notebooks,
# executing nothing; as root it installs the TeX packages it needs (tools/pdf/texdeps.py).
source "$(dirname "$0")/env.sh"
if [ "${1:-}" = "--pdf" ]; then
  shift
  exec python tools/book.py pdf "$@"
fi
python tools/book.py run "$@"
python tools/book.py html
