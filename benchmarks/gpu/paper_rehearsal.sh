#!/usr/bin/env bash
# Paper-scale rehearsal on one GPU (issue 12): stage the real-shape Pythia hub (random weights,
# 100 documents x 300 tokens, 6 x 12 layers, 32,768 latents; no network) and run the whole
# Pythia profile (both procedures, grid + control grid + semantic tables, report), writing
# benchmarks/results/<device-name>/benchmark.json. See benchmarks/gpu/README.md.
#
#   bash benchmarks/gpu/paper_rehearsal.sh                       # paper scale on cuda
#   SCALE=tiny DEVICE=cpu bash benchmarks/gpu/paper_rehearsal.sh # the same script, CPU-sized
#
# Environment: SCALE (paper|tiny), DEVICE (cuda|cpu), WORK (run folder, default /tmp/sae-rehearsal),
# RESULTS (default benchmarks/results), THREADS (default: all cores), PYTHON, OUT (if set, the
# JSON and log are copied there too: the device runner returns $OUT).
set -euo pipefail
cd "$(dirname "$0")/../.."

SCALE=${SCALE:-paper}
DEVICE=${DEVICE:-cuda}
WORK=${WORK:-/tmp/sae-rehearsal-$SCALE}
RESULTS=${RESULTS:-benchmarks/results}
PY=${PYTHON:-python3}
THREADS=${THREADS:-$(nproc)}
WHEELS=benchmarks/gpu/wheels

# 1. dependencies: the GPU machine has torch but not sae-lens, transformer-lens, datasets and no
#    network -> install the project from the carried wheels only (torch is kept as installed).
#    The wheels are installed as carried (--no-deps: the folder holds exactly what the machine
#    lacks, see the README); the repository itself runs from the working tree (PYTHONPATH).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import sae_lens, transformer_lens, datasets, tabulate, matplotlib" 2>/dev/null; then
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "missing wheels in $WHEELS: download them first (benchmarks/gpu/README.md)" >&2
    exit 2
  fi
  "$PY" -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl
fi
"$PY" -c "import sae_lens, transformer_lens, datasets, tabulate, matplotlib, harness, fixtures"
"$PY" - <<'PY'
import torch, sys
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0))
PY

# 2. deterministic cuBLAS (the encoder's bits must not depend on the run)
export CUBLAS_WORKSPACE_CONFIG=:4096:8
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

# 3. stage + run (staging is listed in benchmark.json but not counted in total_seconds)
rm -rf "$WORK/report" "$WORK/cache"
mkdir -p "$WORK"
set +e
"$PY" -m fixtures.rehearse --scale "$SCALE" --device "$DEVICE" --out "$WORK" --threads "$THREADS" 2>&1 \
  | tee "$WORK/rehearsal.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "rehearsal failed (rc $rc); log: $WORK/rehearsal.log" >&2
  [ -n "${OUT:-}" ] && cp "$WORK/rehearsal.log" "$OUT/" || true
  exit "$rc"
fi

# 4. results/<device-name>/benchmark.json (paper scale; other scales go to <name>-<scale>)
NAME=$("$PY" -c "import json,re,sys; d=json.load(open(sys.argv[1])); print(re.sub(r'[^A-Za-z0-9._-]+','-',d['device']).strip('-'))" "$WORK/benchmark.json")
DEST="$RESULTS/$NAME"
[ "$SCALE" = paper ] || DEST="$DEST-$SCALE"
mkdir -p "$DEST"
cp "$WORK/benchmark.json" "$DEST/benchmark.json"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT/$NAME"
  cp "$WORK/benchmark.json" "$OUT/$NAME/benchmark.json"
  cp "$WORK/rehearsal.log" "$OUT/$NAME/"
fi
"$PY" - "$DEST/benchmark.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
print(f"{b['scale']} on {b['device']}: {b['total_seconds']:.1f} s, host peak {b['peak_host_bytes'] / 2**30:.2f} GiB, "
      f"device peak {b['peak_device_bytes'] / 2**30:.2f} GiB, cache {b['cache_bytes'] / 2**30:.2f} GiB")
for s in b["stages"]:
    print(f"  {s['name']:<28} {s['seconds']:>9.2f} s  host {s['peak_host_bytes'] / 2**30:6.2f} GiB  "
          f"device {s['peak_device_bytes'] / 2**30:6.2f} GiB")
PY
echo "wrote $DEST/benchmark.json"
