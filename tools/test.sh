#!/usr/bin/env bash
# README command 2 (the one CI runs): unit tests of d2lutils and the tools, pair checks, the HTML
# build test, and nbval re-executing every committed notebook in the quick profile.
source "$(dirname "$0")/env.sh"
export D2L_PROFILE="${D2L_PROFILE:-quick}" D2L_PROGRESS=0
# One pytest worker per core (D2L_TEST_WORKERS overrides; 0 = no xdist), one torch thread per worker and
# notebook kernel: two workers on two cores never wait for each other's OpenMP threads. Cells of one
# notebook stay on one worker (--dist loadfile). `bash tools/test.sh -m 'not slow'` runs
# only the fast unit tests.
workers="${D2L_TEST_WORKERS:-$(python -c 'import os; print(len(os.sched_getaffinity(0)))')}"
export D2L_NUM_THREADS="${D2L_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
xdist=()
[ "$workers" -gt 1 ] && xdist=(-n "$workers" --dist loadfile)
exec python -m pytest tests chapters --nbval-lax --nbval-current-env "${xdist[@]}" \
  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=900 -p no:cacheprovider "$@"
