#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs all tests: the core/export suite in .venv and the
# Blender suite in .venv-blender. Extra arguments go to the first pytest run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$root/.cache/anny}"
# On these 2-core machines torch runs the small batched solves ~10x faster on one thread.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export BIOMOCAP_SHARED_DATA="${BIOMOCAP_SHARED_DATA:-$root/../shared/data}"
status=0
.venv/bin/python -m pytest tests --ignore=tests/blender "$@" || status=$?
.venv-blender/bin/python -m pytest tests/blender -p no:cacheprovider || { s=$?; [[ $s == 5 ]] || status=$s; }
exit $status
