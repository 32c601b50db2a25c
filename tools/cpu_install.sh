#!/usr/bin/env bash
# Measures the CPU-only install: a fresh venv with torch's CPU build (about 190 MB to download, instead
# of the CUDA build's 5+ GB with its nvidia-* packages), then kerasish, then the main job.
#
#   bash tools/cpu_install.sh                 # torch from https://download.pytorch.org/whl/cpu
#   TORCH_CPU="torch==2.13.0+cpu" bash tools/cpu_install.sh   # a CPU build pip finds locally (find-links)
#
# Prints the seconds each step took and the venv's size; removes the venv afterwards
# (KEEP=1 keeps it at $VENV).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-$(mktemp -d)/venv}"
now() { date +%s.%N; }
python -m venv "$VENV"
t0=$(now)
if [ -n "${TORCH_CPU:-}" ]; then
    "$VENV/bin/pip" install -q "$TORCH_CPU"
else
    "$VENV/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
t1=$(now)
"$VENV/bin/pip" install -q -e .
t2=$(now)
"$VENV/bin/python" -m kerasish.recipes linear_regression | tail -2
t3=$(now)
"$VENV/bin/python" - <<'PY'
import torch
assert not torch.version.cuda, f"expected a CPU-only torch, found CUDA {torch.version.cuda}"
print(f"torch {torch.__version__} (CPU-only build)")
PY
site=$("$VENV/bin/python" -c "import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))")
printf 'torch CPU install %.0f s, kerasish and its other dependencies %.0f s, first run of the main job %.0f s\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)"
echo "venv size: $(du -sh "$VENV" | cut -f1) (torch alone: $(du -sh "$site/torch" | cut -f1))"
if [ -z "${KEEP:-}" ]; then rm -rf "$VENV"; fi
