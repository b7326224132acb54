"""grpcio (C-core) client against our server, for GrpcioClientTests: every call shape, errors,
deadline, metadata (-bin too), gzip, unknown method, cancel. Prints one JSON object of results.

usage: grpcio_smoke.py GEN_DIR HOST:PORT   (GEN_DIR holds interop_pb2.py from Debian's protoc)"""
import json
import sys
import threading

import grpc

gen_dir, target = sys.argv[1:3]
sys.path.insert(0, gen_dir)
import interop_pb2 as pb  # noqa: E402

S = "/r2m.interop.v1.InteropTest/"
out = {}
channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 80 << 20),
                                                 ("grpc.max_send_message_length", 80 << 20)])
echo = channel.unary_unary(S + "Echo", pb.EchoRequest.SerializeToString, pb.EchoReply.FromString)
sstream = channel.unary_stream(S + "ServerStream", pb.StreamRequest.SerializeToString, pb.EchoReply.FromString)
cstream = channel.stream_unary(S + "ClientStream", pb.EchoRequest.SerializeToString, pb.SumReply.FromString)
bidi = channel.stream_stream(S + "BidiStream", pb.EchoRequest.SerializeToString, pb.EchoReply.FromString)
missing = channel.unary_unary(S + "Missing", pb.EchoRequest.SerializeToString, pb.EchoReply.FromString)


def code_of(fn):
    try:
        fn()
        return ["OK", ""]
    except grpc.RpcError as e:
        return [e.code().name, e.details() or ""]


out["echo"] = echo(pb.EchoRequest(payload=b"hi"), timeout=20).payload.decode()
out["big"] = len(echo(pb.EchoRequest(response_size=8 << 20), timeout=60).payload)
out["stream_count"] = sum(1 for _ in sstream(pb.StreamRequest(count=10000, response_size=4), timeout=60))
sums = cstream(iter([pb.EchoRequest(payload=b"x" * i) for i in range(50)]), timeout=20)
out["client_stream"] = [sums.messages, sums.total_bytes]
out["bidi"] = [r.received for r in bidi(iter([pb.EchoRequest(payload=b"a")] * 5), timeout=20)]
out["error"] = code_of(lambda: echo(pb.EchoRequest(fail_with_code=5, error_message="gone: 100% \u2713"), timeout=20))
out["exception"] = code_of(lambda: echo(pb.EchoRequest(throw_exception=True), timeout=20))
out["deadline"] = code_of(lambda: echo(pb.EchoRequest(delay_ms=5000), timeout=0.3))
out["deadline_stream"] = code_of(lambda: list(sstream(pb.StreamRequest(count=1000, interval_ms=20), timeout=0.3)))
out["unknown"] = code_of(lambda: missing(pb.EchoRequest(), timeout=20))
reply, call = echo.with_call(pb.EchoRequest(echo_metadata=["x-a", "x-b-bin"]),
                             metadata=[("x-a", "va"), ("x-b-bin", b"\x00\xff\x10")], timeout=20)
out["initial_md"] = sorted([k, v if isinstance(v, str) else v.hex()] for k, v in call.initial_metadata() if k.startswith("x-"))
out["trailing_md"] = sorted([k, v if isinstance(v, str) else v.hex()] for k, v in call.trailing_metadata() if k.startswith("x-"))
out["gzip"] = len(echo(pb.EchoRequest(payload=b"z" * 100000), timeout=20, compression=grpc.Compression.Gzip).payload)

# Cancel mid-stream from the client, then prove the server still answers.
it = sstream(pb.StreamRequest(count=100000, response_size=10, interval_ms=5), timeout=20)
next(it)
it.cancel()
out["cancel"] = code_of(lambda: list(it))
out["after_cancel"] = echo(pb.EchoRequest(payload=b"ok"), timeout=20).payload.decode()
print(json.dumps(out))
