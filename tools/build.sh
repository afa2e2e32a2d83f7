#!/usr/bin/env bash
# README command 1: set up, execute the sections whose .md changed (papermill, profile auto),
# and build the HTML book.  Options are passed to `tools/book.py run`, e.g. --all, --profile full.
source "$(dirname "$0")/env.sh"
python tools/book.py run "$@"
python tools/book.py html
