#!/usr/bin/env bash
# Creates .venv (Python 3.11: core, export, tests) and .venv-blender (Python 3.13: bpy) when they
# are missing or their requirements changed, and builds Anny's model cache once into .cache/anny.
# Quick (a few seconds) when everything is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$root/.cache/anny}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {  # find_python 3.11 -> path of an interpreter of that version
  local want="$1" cand
  for cand in "python$want" python3 /root/.pyenv/versions/"$want"*/bin/python3 \
      /usr/local/bin/python"$want" /usr/bin/python"$want" "$HOME"/.pyenv/versions/"$want"*/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c "import sys; raise SystemExit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

stamp_of() { cat "$@" pyproject.toml | sha256sum | cut -c1-16; }

make_env() {  # make_env DIR PYVER REQFILE
  local dir="$1" ver="$2" req="$3" py stamp
  stamp="$(stamp_of "$req")"
  if [[ -f "$dir/.biomocap-stamp" && "$(cat "$dir/.biomocap-stamp")" == "$stamp" ]]; then
    return 0
  fi
  py="$(find_python "$ver")" || { echo "error: Python $ver not found; install it (pyenv install $ver)" >&2; exit 1; }
  echo "[setup] creating $dir with $py"
  # A venv cut short (no pip) is made again rather than used half-made.
  [[ -x "$dir/bin/python" && -x "$dir/bin/pip" ]] || "$py" -m venv --clear "$dir"
  if [[ "$ver" == "3.11" ]]; then
    # torch first and pinned: it resolves to the local CPU wheel, never the CUDA build.
    "$dir/bin/pip" install -q torch==2.13.0
  fi
  "$dir/bin/pip" install -q -r "$req"
  if [[ "$ver" == "3.11" ]]; then
    "$dir/bin/pip" install -q --no-deps -e .
    # The Ray engine of `core batch` (extra biomocap[ray]): the tests run a local Ray cluster.
    "$dir/bin/pip" install -q -e ".[ray]"
  fi
  echo "$stamp" > "$dir/.biomocap-stamp"
}

make_env .venv 3.11 requirements.txt
make_env .venv-blender 3.13 requirements-blender.txt

# The embedded default clip: Sports2D's demo video (BSD-3-Clause), taken from its PyPI wheel.
demo="$root/.cache/demo/demo.mp4"
if [[ ! -f "$demo" ]]; then
  echo "[setup] fetching the default demo clip from the sports2d wheel (PyPI)"
  tmp="$(mktemp -d)"
  .venv/bin/pip download -q --no-deps sports2d==0.8.34 -d "$tmp"
  .venv/bin/python - "$tmp" "$demo" <<'PY'
import glob, os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(dst), exist_ok=True)
with zipfile.ZipFile(glob.glob(os.path.join(src, "sports2d-*.whl"))[0]) as z:
    data = z.read("Sports2D/Demo/demo.mp4")
    lic = [n for n in z.namelist() if n.endswith(("LICENSE", "LICENSE.txt"))]
    if lic:
        open(os.path.join(os.path.dirname(dst), "LICENSE-sports2d.txt"), "wb").write(z.read(lic[0]))
open(dst + ".tmp", "wb").write(data)
os.replace(dst + ".tmp", dst)
PY
  rm -rf "$tmp"
fi

# Anny builds a ~0.8 GB cache on first use (about a minute); do it here, not inside a test. Every
# run checks it (a few seconds): core.anny_loader builds the compact model data with one thread and
# rebuilds a file that is not that build (one that an older set-up made with all cores had other
# signs and round-off, and captures came out differently).
if [[ ! -f "$ANNY_CACHE_DIR/.biomocap-ready" ]]; then
  echo "[setup] building the Anny body-model cache in $ANNY_CACHE_DIR (once, ~1 min)"
fi
mkdir -p "$ANNY_CACHE_DIR"
OMP_NUM_THREADS=1 .venv/bin/python -m core warm-cache >/dev/null
touch "$ANNY_CACHE_DIR/.biomocap-ready"
