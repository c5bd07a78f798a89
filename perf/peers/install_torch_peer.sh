#!/usr/bin/env bash
# Installs the capture peer's dependencies from Debian: PyTorch with the threaded OpenBLAS (without OpenBLAS its
# matrix products are ~30x slower and the comparison would flatter us). Peers only; never part of the engine.
set -euo pipefail
if ! /usr/bin/python3 -c "import torch" 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
fi
/usr/bin/python3 -c "import torch; print('torch', torch.__version__)"
