#!/usr/bin/env bash
# Installs what the tests need beyond `npm ci`, idempotently: PyTorch (Debian's CPU build), Mesa for the
# software WebGPU adapter, the pinned Python packages in .venv. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "setup: need root for: $*" >&2; return 1; fi; }

apt_need=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || apt_need+=(python3-torch libopenblas0-pthread)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || apt_need+=(python3-venv)
# Mesa's EGL + llvmpipe: the software WebGPU adapter (Dawn's OpenGL ES backend) the WebGPU parity tests run on.
for pkg in libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt_need+=("$pkg")
done
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "setup: apt-get install ${apt_need[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${apt_need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv (with the system's torch)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r models/requirements.txt
echo "setup: python ready ($(.venv/bin/python -c 'import torch, onnxruntime; print("torch", torch.__version__, "onnxruntime", onnxruntime.__version__)'))"

# The end-to-end tests' real VS Code (code-server) and Chromium, cached outside the repo.
bash scripts/setup-e2e.sh
