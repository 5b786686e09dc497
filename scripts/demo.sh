#!/usr/bin/env bash
# Sets everything up and runs the demo into ./out/demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$root/.cache/anny}"
# On these 2-core machines torch runs the small batched solves ~10x faster on one thread.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m core demo -o "${1:-out/demo}"
