#!/usr/bin/env bash
# Kept for the commands written before issue 20: the same as benchmarks/gpu/run with the
# SCALE / DEVICE variables of the old script (benchmarks/gpu/README.md).
set -euo pipefail
exec "$(dirname "$0")/run" --scale "${SCALE:-paper}" --device "${DEVICE:-cuda}" "$@"
