"""Generates the Python stubs for interop.proto at run time.

Debian's python3-protobuf 3.21 only loads stubs made by the matching protoc 3.21, so the stubs are
produced by Debian's `protoc` + `grpc_python_plugin` into a temporary directory on every run
instead of being checked in (a checked-in copy would break as soon as the two versions drift).
"""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "Protos"))
# interop.proto imports r2m/v1/options.proto (the access option), which imports Debian's
# google/protobuf/descriptor.proto (libprotobuf-dev, on protoc's default include path).
API_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "protos"))


def load():
    """Returns (interop_pb2, interop_pb2_grpc) generated from Protos/interop.proto."""
    for tool in ("protoc", "grpc_python_plugin"):
        if shutil.which(tool) is None:
            sys.exit(f"interop peer: '{tool}' not found; run scripts/setup.sh "
                     "(Debian protobuf-compiler, protobuf-compiler-grpc)")
    out = tempfile.mkdtemp(prefix="r2m-interop-py-")
    cmd = ["protoc", f"-I{PROTO_DIR}", f"-I{API_DIR}", f"--python_out={out}", f"--grpc_out={out}",
           f"--plugin=protoc-gen-grpc={shutil.which('grpc_python_plugin')}",
           os.path.join(PROTO_DIR, "interop.proto"), os.path.join(API_DIR, "r2m", "v1", "options.proto")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"interop peer: protoc failed: {res.stderr.strip()}")
    for package in ("r2m", os.path.join("r2m", "v1")):
        open(os.path.join(out, package, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    pb2 = importlib.import_module("interop_pb2")
    pb2_grpc = importlib.import_module("interop_pb2_grpc")
    return pb2, pb2_grpc
