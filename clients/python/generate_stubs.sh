#!/usr/bin/env bash
# Generates the Python messages and gRPC stubs of protos/r2m/v1 into clients/python/r2m_stubs
# (gitignored), with Debian's protoc 3.21 and grpc_python_plugin: code from a newer protoc can
# demand a newer python3-protobuf runtime than Debian ships (clients/python/README.md).
# Usage: bash clients/python/generate_stubs.sh [output dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$here/r2m_stubs"}
protoc=${PROTOC:-/usr/bin/protoc}
plugin=${GRPC_PYTHON_PLUGIN:-/usr/bin/grpc_python_plugin}
for tool in "$protoc" "$plugin"; do
  if [ ! -x "$tool" ]; then
    echo "generate_stubs: $tool not found: run scripts/setup.sh (protobuf-compiler, protobuf-compiler-grpc)" >&2
    exit 1
  fi
done
mkdir -p "$out"
# The imports inside the generated code are "from r2m.v1 import ..._pb2", so the output root
# (not r2m/v1) is what goes on sys.path.
"$protoc" -I "$root/protos" \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  "$root"/protos/r2m/v1/*.proto
touch "$out/r2m/__init__.py" "$out/r2m/v1/__init__.py"
echo "generate_stubs: wrote $(ls "$out"/r2m/v1/*_pb2*.py | wc -l) modules to $out/r2m/v1"
