#!/usr/bin/env bash
# Runs the MI peer (numpy histogram2d, scikit-learn plug-in and KSG) on the data the C# MiSuite wrote.
# Installs Debian's python3-numpy and python3-sklearn with apt-get when they are missing (peers only).
# usage: run_mi_peer.sh DATA.f32 S N PAIRS.txt [BUDGET_SECONDS | --single REPEATS]
# single-threaded BLAS/OpenMP so one-thread timings compare like with like
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
set -euo pipefail
PY=/usr/bin/python3
if ! "$PY" -c "import numpy, sklearn" >/dev/null 2>&1; then
  echo "installing python3-numpy python3-sklearn (Debian) for the peer" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-numpy python3-sklearn >&2
fi
exec "$PY" "$(dirname "$0")/mi_peer.py" "$@"
