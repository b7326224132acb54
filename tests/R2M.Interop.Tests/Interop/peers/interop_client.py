"""grpcio interop client: runs the suite's case list against a target and prints one JSON line per
case: {"case": name, "ok": true|false, "detail": "..."}; then exits 0 (the verdict is in the lines).

Usage: /usr/bin/python3 interop_client.py HOST:PORT [--cases a,b,...] [--tls-ca CERT.pem]
The case list is the same for every client (see Interop/InteropCases.cs and interop_client.js).
"""
import argparse
import json
import os
import sys
import threading
import time

import grpc

import interop_stubs

pb2, pb2_grpc = interop_stubs.load()
MIB = 1024 * 1024
CALL_TIMEOUT = 30.0
UNICODE_MESSAGE = "h\u00e9llo 100% \u2713 \u65e5\u672c %41 tab\there"


class CaseFailed(Exception):
    pass


def expect(cond, detail):
    if not cond:
        raise CaseFailed(detail)


def expect_code(err, code):
    expect(err.code() == code, f"expected {code.name}, got {err.code().name}: {err.details()!r}")


def rpc_error(fn):
    """Runs fn expecting an RpcError; returns it."""
    try:
        fn()
    except grpc.RpcError as e:
        return e
    raise CaseFailed("call succeeded but an error status was expected")


def case_unary_echo(stub, ctx):
    reply = stub.Echo(pb2.EchoRequest(payload=b"hello interop"), timeout=CALL_TIMEOUT)
    expect(reply.payload == b"hello interop", f"payload mismatch: {reply.payload!r}")


def case_large_64mib(stub, ctx):
    limit = 80 * MIB
    with ctx.open([("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]) as ch:
        big = pb2_grpc.InteropTestStub(ch)
        payload = os.urandom(64 * MIB)
        reply = big.Echo(pb2.EchoRequest(payload=payload), timeout=120.0)
        expect(len(reply.payload) == len(payload), f"reply length {len(reply.payload)}")
        expect(reply.payload == payload, "64 MiB reply differs from the request")


def case_server_stream_10k(stub, ctx):
    n = 0
    for r in stub.ServerStream(pb2.StreamRequest(count=10000, response_size=8), timeout=CALL_TIMEOUT):
        expect(r.index == n and len(r.payload) == 8, f"message {n}: index {r.index}, {len(r.payload)} bytes")
        n += 1
    expect(n == 10000, f"received {n} messages")


def case_client_stream_10k(stub, ctx):
    reqs = (pb2.EchoRequest(payload=b"12345678") for _ in range(10000))
    reply = stub.ClientStream(reqs, timeout=CALL_TIMEOUT)
    expect(reply.messages == 10000 and reply.total_bytes == 80000,
           f"server counted {reply.messages} messages, {reply.total_bytes} bytes")


def case_bidi_10k(stub, ctx):
    reqs = (pb2.EchoRequest(payload=b"%08d" % i) for i in range(10000))
    n = 0
    for r in stub.BidiStream(reqs, timeout=CALL_TIMEOUT):
        expect(r.index == n and r.payload == b"%08d" % n, f"reply {n}: index {r.index} payload {r.payload!r}")
        n += 1
    expect(n == 10000, f"received {n} replies")


def case_deadline_mid_stream(stub, ctx):
    got = []
    call = stub.ServerStream(pb2.StreamRequest(count=1000, response_size=8, interval_ms=20), timeout=1.0)
    err = rpc_error(lambda: [got.append(r) for r in call])
    expect_code(err, grpc.StatusCode.DEADLINE_EXCEEDED)
    expect(0 < len(got) < 1000, f"received {len(got)} messages before the deadline")


def case_cancel_from_client(stub, ctx):
    got = []
    call = stub.ServerStream(pb2.StreamRequest(count=1000, response_size=8, interval_ms=20),
                             timeout=CALL_TIMEOUT, metadata=[("x-case", "cancel_from_client")])

    def read():
        for r in call:
            got.append(r)
            if len(got) == 3:
                call.cancel()
    err = rpc_error(read)
    expect_code(err, grpc.StatusCode.CANCELLED)
    expect(len(got) == 3, f"received {len(got)} messages")


def case_cancel_from_server(stub, ctx):
    got = []
    call = stub.ServerStream(pb2.StreamRequest(count=10, response_size=8, fail_after=3, fail_with_code=10),
                             timeout=CALL_TIMEOUT)
    err = rpc_error(lambda: [got.append(r) for r in call])
    expect_code(err, grpc.StatusCode.ABORTED)
    expect(len(got) == 3, f"received {len(got)} messages before the failure")


def case_gzip(stub, ctx):
    payload = b"compressible gzip payload " * 10000
    reply, call = stub.Echo.with_call(pb2.EchoRequest(payload=payload), timeout=CALL_TIMEOUT,
                                      compression=grpc.Compression.Gzip,
                                      metadata=[("x-response-compression", "gzip")])
    expect(reply.payload == payload, "gzip echo payload mismatch")
    reqs = (pb2.EchoRequest(payload=payload[: 1000 + i]) for i in range(20))
    n = 0
    for r in stub.BidiStream(reqs, timeout=CALL_TIMEOUT, compression=grpc.Compression.Gzip,
                             metadata=[("x-response-compression", "gzip")]):
        expect(r.payload == payload[: 1000 + n], f"gzip bidi reply {n} mismatch")
        n += 1
    expect(n == 20, f"gzip bidi received {n} replies")


def case_metadata_bin(stub, ctx):
    blob = bytes(range(256))
    md = [("x-trace-bin", blob), ("x-user", "alice")]
    reply, call = stub.Echo.with_call(pb2.EchoRequest(payload=b"m", echo_metadata=["x-trace-bin", "x-user"]),
                                      metadata=md, timeout=CALL_TIMEOUT)
    for where, got in (("headers", call.initial_metadata()), ("trailers", call.trailing_metadata())):
        d = dict(got or ())
        expect(d.get("x-trace-bin") == blob, f"{where}: x-trace-bin = {d.get('x-trace-bin')!r}")
        expect(d.get("x-user") == "alice", f"{where}: x-user = {d.get('x-user')!r}")


def case_oversize(stub, ctx):
    # The default receive limit is 4 MiB: a 5 MiB reply must fail with RESOURCE_EXHAUSTED.
    err = rpc_error(lambda: stub.Echo(pb2.EchoRequest(response_size=5 * MIB), timeout=CALL_TIMEOUT))
    expect_code(err, grpc.StatusCode.RESOURCE_EXHAUSTED)


def case_unknown_method(stub, ctx):
    for path in ("/r2m.interop.v1.InteropTest/NoSuchMethod", "/r2m.interop.v1.NoSuchService/Echo"):
        call = ctx.channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        err = rpc_error(lambda: call(b"", timeout=CALL_TIMEOUT))
        expect_code(err, grpc.StatusCode.UNIMPLEMENTED)


def case_handler_exception(stub, ctx):
    err = rpc_error(lambda: stub.Echo(pb2.EchoRequest(throw_exception=True), timeout=CALL_TIMEOUT))
    # grpcio and grpc-dotnet answer UNKNOWN; r2m-server's host maps unexpected exceptions to INTERNAL.
    expect(err.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL),
           f"expected UNKNOWN or INTERNAL, got {err.code().name}: {err.details()!r}")
    details = err.details() or ""
    for leak in ("secret", "   at ", ".cs:line", "Traceback"):
        expect(leak not in details, f"status message leaks handler internals: {details!r}")


def case_status_unicode(stub, ctx):
    err = rpc_error(lambda: stub.Echo(pb2.EchoRequest(fail_with_code=9, error_message=UNICODE_MESSAGE),
                                      timeout=CALL_TIMEOUT))
    expect_code(err, grpc.StatusCode.FAILED_PRECONDITION)
    expect(err.details() == UNICODE_MESSAGE, f"message {err.details()!r}")


CASES = [
    ("unary_echo", case_unary_echo),
    ("large_64mib", case_large_64mib),
    ("server_stream_10k", case_server_stream_10k),
    ("client_stream_10k", case_client_stream_10k),
    ("bidi_10k", case_bidi_10k),
    ("deadline_mid_stream", case_deadline_mid_stream),
    ("cancel_from_client", case_cancel_from_client),
    ("cancel_from_server", case_cancel_from_server),
    ("gzip", case_gzip),
    ("metadata_bin", case_metadata_bin),
    ("oversize", case_oversize),
    ("unknown_method", case_unknown_method),
    ("handler_exception", case_handler_exception),
    ("status_unicode", case_status_unicode),
]


class Ctx:
    def __init__(self, target, tls_ca):
        self.target = target
        self.tls_ca = tls_ca
        self.channel = self.open()

    def open(self, options=()):
        """A channel to the target: cleartext, or TLS trusting only the PEM certificate in tls_ca
        (grpc core insists on ALPN "h2", so a TLS call succeeding proves the server negotiated it)."""
        options = list(options)
        if not self.tls_ca:
            return grpc.insecure_channel(self.target, options=options)
        with open(self.tls_ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        return grpc.secure_channel(self.target, credentials, options=options)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--cases", default="")
    ap.add_argument("--tls-ca", default="", help="PEM certificate to trust; connects over TLS")
    args = ap.parse_args()
    chosen = [c for c in args.cases.split(",") if c]
    unknown = [c for c in chosen if c not in dict(CASES)]
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(unknown)}")
    ctx = Ctx(args.target, args.tls_ca)
    with ctx.channel as channel:
        stub = pb2_grpc.InteropTestStub(channel)
        for name, fn in CASES:
            if chosen and name not in chosen:
                continue
            t0 = time.monotonic()
            try:
                fn(stub, ctx)
                ok, detail = True, ""
            except CaseFailed as e:
                ok, detail = False, str(e)
            except grpc.RpcError as e:
                ok, detail = False, f"unexpected status {e.code().name}: {e.details()!r}"
            except Exception as e:  # report, never crash the run
                ok, detail = False, f"{type(e).__name__}: {e}"
            print(json.dumps({"case": name, "ok": ok, "detail": detail,
                              "ms": round((time.monotonic() - t0) * 1000)}), flush=True)


if __name__ == "__main__":
    main()
