#!/usr/bin/env bash
# README command 2 (the one CI runs): unit tests of d2lutils and the tools, pair checks, the HTML
# build test, and nbval re-executing every committed notebook in the quick profile.
source "$(dirname "$0")/env.sh"
export D2L_PROFILE="${D2L_PROFILE:-quick}" D2L_PROGRESS=0
exec python -m pytest tests chapters --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=900 -p no:cacheprovider "$@"
