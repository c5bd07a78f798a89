#!/usr/bin/env bash
# Runs the mi-pairs peers (numpy, scipy, scikit-learn) on the data the C# MiPairsSuite wrote, on one thread.
# Installs Debian's python3-numpy, python3-scipy and python3-sklearn with apt-get when they are missing (peers only).
# usage: run_mi_pairs_peer.sh DATA.f32 S N (PAIRS.txt [METHODS] | --all-pairs)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 BLIS_NUM_THREADS=1
set -euo pipefail
PY=/usr/bin/python3
if ! "$PY" -c "import numpy, scipy, sklearn" >/dev/null 2>&1; then
  echo "installing python3-numpy python3-scipy python3-sklearn (Debian) for the peer" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-numpy python3-scipy python3-sklearn >&2
fi
exec "$PY" "$(dirname "$0")/mi_pairs_peer.py" "$@"
