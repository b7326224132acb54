"""grpcio (asyncio) implementation of r2m.interop.v1.InteropTest, the foreign server of the suite.

Behaves like the C# InteropTestService: Echo / ServerStream / ClientStream / BidiStream honour the
request fields described in Protos/interop.proto. Prints one JSON line {"port": N} once listening,
then one JSON line per observed event ({"event": "cancelled", "method": ..., "case": ...} when a
handler sees its call cancelled), and serves until standard input closes.

Usage: /usr/bin/python3 interop_server.py [--max-message-mib N]
"""
import argparse
import asyncio
import json
import sys
import threading

import grpc

import interop_stubs

pb2, pb2_grpc = interop_stubs.load()
CODES = {c.value[0]: c for c in grpc.StatusCode}
# Fixed text of the exception a handler throws on request; a conformant server must not leak it.
SECRET = "secret-internal-detail-7f3a"


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def case_of(context):
    for key, value in context.invocation_metadata() or ():
        if key == "x-case":
            return value
    return ""


def echoed_metadata(context, keys):
    wanted = set(keys)
    return tuple((k, v) for k, v in (context.invocation_metadata() or ()) if k in wanted)


async def fail(context, code, message):
    await context.abort(CODES.get(code, grpc.StatusCode.UNKNOWN), message)


async def apply_request(request, context):
    """Delay, throw and fail_with_code handling shared by every method."""
    if request.delay_ms > 0:
        await asyncio.sleep(request.delay_ms / 1000.0)
    if request.throw_exception:
        # grpcio would put the exception text into grpc-message; map it like a conformant
        # server does (UNKNOWN, fixed text) so the suite checks the same rule on both servers.
        try:
            raise RuntimeError(SECRET)
        except RuntimeError:
            await context.abort(grpc.StatusCode.UNKNOWN, "Exception was thrown by handler.")
    if request.fail_with_code != 0:
        await fail(context, request.fail_with_code, request.error_message)


_PATTERN = bytes(range(251))


def payload_of(size):
    """Generated payloads are byte k = k % 251, like the C# InteropTestService."""
    return (_PATTERN * (size // 251 + 1))[:size]


def reply_payload(request):
    return payload_of(request.response_size) if request.response_size > 0 else request.payload


def cancelled(method, context):
    """Reports a cancelled call (client cancel or expired deadline) as an event line: grpc.aio
    cancels the handler's task, so the handler sees asyncio.CancelledError at its next await."""
    emit({"event": "cancelled", "method": method, "case": case_of(context)})


class InteropTest(pb2_grpc.InteropTestServicer):
    async def Echo(self, request, context):
        if request.echo_metadata:
            md = echoed_metadata(context, request.echo_metadata)
            await context.send_initial_metadata(md)
            context.set_trailing_metadata(md)
        compression_header(context)
        try:
            await apply_request(request, context)
        except asyncio.CancelledError:
            cancelled("Echo", context)
            raise
        return pb2.EchoReply(payload=reply_payload(request), index=0, received=1)

    async def ServerStream(self, request, context):
        compression_header(context)
        payload = payload_of(request.response_size)
        try:
            for i in range(request.count):
                if request.fail_after > 0 and i == request.fail_after:
                    await fail(context, request.fail_with_code, f"failed after {i} replies")
                if request.interval_ms > 0 and i > 0:
                    await asyncio.sleep(request.interval_ms / 1000.0)
                yield pb2.EchoReply(payload=payload, index=i, received=1)
        except (asyncio.CancelledError, GeneratorExit):
            # A cancel that lands while the generator waits at `yield` (its reply being sent)
            # cancels grpc's own task, which then closes the generator: GeneratorExit, not
            # CancelledError. Both are the client's cancel reaching the handler.
            cancelled("ServerStream", context)
            raise
        if request.fail_after > 0 and request.fail_after >= request.count:
            await fail(context, request.fail_with_code, f"failed after {request.count} replies")

    async def ClientStream(self, request_iterator, context):
        compression_header(context)
        count, total, last = 0, 0, None
        async for req in request_iterator:
            count += 1
            total += len(req.payload)
            last = req
        if last is not None:
            await apply_request(last, context)
        return pb2.SumReply(messages=count, total_bytes=total)

    async def BidiStream(self, request_iterator, context):
        compression_header(context)
        i = 0
        try:
            async for req in request_iterator:
                await apply_request(req, context)
                yield pb2.EchoReply(payload=reply_payload(req), index=i, received=i + 1)
                i += 1
        except (asyncio.CancelledError, GeneratorExit):
            cancelled("BidiStream", context)
            raise


def compression_header(context):
    # The suite asks for compressed responses with this header (grpcio has no per-call
    # negotiation knob other than set_compression).
    for key, value in context.invocation_metadata() or ():
        if key == "x-response-compression" and value == "gzip":
            context.set_compression(grpc.Compression.Gzip)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-message-mib", type=int, default=80)
    args = ap.parse_args()
    limit = args.max_message_mib * 1024 * 1024
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit)])
    pb2_grpc.add_InteropTestServicer_to_server(InteropTest(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    emit({"port": port})
    loop = asyncio.get_running_loop()
    stdin_closed = asyncio.Event()

    def wait_stdin():
        sys.stdin.read()
        loop.call_soon_threadsafe(stdin_closed.set)
    threading.Thread(target=wait_stdin, daemon=True).start()
    await stdin_closed.wait()
    await server.stop(0.5)


if __name__ == "__main__":
    asyncio.run(main())
