// @grpc/grpc-js interop client: runs the suite's case list against a target and prints one JSON
// line per case: {"case": name, "ok": bool, "detail": "..."}; exits 0 (the verdict is in the lines).
// Usage: node interop_client.js HOST:PORT [--cases a,b,...]
// Packages come from tools/node/node_modules (installed by scripts/setup.sh).
'use strict';
const path = require('path');
const crypto = require('crypto');

const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');
const modules = path.join(repoRoot, 'tools', 'node', 'node_modules');
let grpc, protoLoader;
try {
  grpc = require(path.join(modules, '@grpc', 'grpc-js'));
  protoLoader = require(path.join(modules, '@grpc', 'proto-loader'));
} catch (e) {
  console.error(`interop peer: @grpc/grpc-js not found under ${modules}; run scripts/setup.sh`);
  process.exit(3);
}

const MIB = 1024 * 1024;
const CALL_TIMEOUT_MS = 30000;
const UNICODE_MESSAGE = 'h\u00e9llo 100% \u2713 \u65e5\u672c %41 tab\there';
const S = grpc.status;
const codeName = (c) => Object.keys(S).find((k) => S[k] === c) || String(c);

// interop.proto imports r2m/v1/options.proto (the repository's protos); protobufjs ships descriptor.proto.
const def = protoLoader.loadSync(path.join(__dirname, '..', '..', 'Protos', 'interop.proto'),
  { keepCase: true, longs: Number, defaults: true, includeDirs: [path.join(repoRoot, 'protos')] });
const pkg = grpc.loadPackageDefinition(def).r2m.interop.v1;

class CaseFailed extends Error {}
function expect(cond, detail) { if (!cond) throw new CaseFailed(detail); }
function expectCode(err, code) {
  expect(err && err.code === code, `expected ${codeName(code)}, got ${err ? codeName(err.code) : 'OK'}: ${err && JSON.stringify(err.details)}`);
}
const deadline = (ms) => ({ deadline: new Date(Date.now() + ms) });

function unary(client, method, req, opts = {}, md = new grpc.Metadata()) {
  // Settles once both the callback (reply or error) and the 'status' event (trailers) arrived.
  return new Promise((resolve) => {
    const r = { err: null, reply: null, headers: null, trailers: null };
    let pending = 2;
    const settle = () => { if (--pending === 0) resolve(r); };
    const call = client[method](req, md, { ...deadline(CALL_TIMEOUT_MS), ...opts }, (err, reply) => { r.err = err; r.reply = reply; settle(); });
    call.on('metadata', (m) => { r.headers = m; });
    call.on('status', (s) => { r.trailers = s.metadata; settle(); });
  });
}

// Reads a server/bidi stream; onMessage(msg, call) may cancel. Resolves {messages, err}.
function readStream(call, onMessage) {
  return new Promise((resolve) => {
    const messages = [];
    let err = null;
    call.on('data', (m) => { messages.push(m); if (onMessage) onMessage(m, call, messages); });
    call.on('error', (e) => { err = e; });
    call.on('status', () => setImmediate(() => resolve({ messages, err })));
  });
}

function clientStream(client, reqs, opts = {}) {
  return new Promise((resolve) => {
    const call = client.ClientStream(new grpc.Metadata(), { ...deadline(CALL_TIMEOUT_MS), ...opts }, (err, reply) => resolve({ err, reply }));
    for (const r of reqs) call.write(r);
    call.end();
  });
}

const cases = {
  async unary_echo(ctx) {
    const { err, reply } = await unary(ctx.client, 'Echo', { payload: Buffer.from('hello interop') });
    expect(!err, `status ${err && err.message}`);
    expect(reply.payload.toString() === 'hello interop', `payload ${reply.payload}`);
  },
  async large_64mib(ctx) {
    const big = new pkg.InteropTest(ctx.target, grpc.credentials.createInsecure(),
      { 'grpc.max_receive_message_length': 80 * MIB, 'grpc.max_send_message_length': 80 * MIB });
    try {
      const payload = crypto.randomBytes(64 * MIB);
      const { err, reply } = await unary(big, 'Echo', { payload }, deadline(120000));
      expect(!err, `status ${err && err.message}`);
      expect(reply.payload.length === payload.length, `reply length ${reply.payload.length}`);
      expect(reply.payload.equals(payload), '64 MiB reply differs from the request');
    } finally { big.close(); }
  },
  async server_stream_10k(ctx) {
    const call = ctx.client.ServerStream({ count: 10000, response_size: 8 }, deadline(CALL_TIMEOUT_MS));
    const { messages, err } = await readStream(call);
    expect(!err, `status ${err && err.message}`);
    expect(messages.length === 10000, `received ${messages.length}`);
    messages.forEach((m, i) => expect(m.index === i && m.payload.length === 8, `message ${i}: index ${m.index}`));
  },
  async client_stream_10k(ctx) {
    const reqs = Array.from({ length: 10000 }, () => ({ payload: Buffer.from('12345678') }));
    const { err, reply } = await clientStream(ctx.client, reqs);
    expect(!err, `status ${err && err.message}`);
    expect(reply.messages === 10000 && reply.total_bytes === 80000, `server counted ${reply.messages} messages, ${reply.total_bytes} bytes`);
  },
  async bidi_10k(ctx) {
    const call = ctx.client.BidiStream(deadline(CALL_TIMEOUT_MS));
    const done = readStream(call);
    for (let i = 0; i < 10000; i++) call.write({ payload: Buffer.from(String(i).padStart(8, '0')) });
    call.end();
    const { messages, err } = await done;
    expect(!err, `status ${err && err.message}`);
    expect(messages.length === 10000, `received ${messages.length}`);
    messages.forEach((m, i) => expect(m.index === i && m.payload.toString() === String(i).padStart(8, '0'), `reply ${i}: index ${m.index}`));
  },
  async deadline_mid_stream(ctx) {
    const call = ctx.client.ServerStream({ count: 1000, response_size: 8, interval_ms: 20 }, deadline(1000));
    const { messages, err } = await readStream(call);
    expectCode(err, S.DEADLINE_EXCEEDED);
    expect(messages.length > 0 && messages.length < 1000, `received ${messages.length} messages before the deadline`);
  },
  async cancel_from_client(ctx) {
    const md = new grpc.Metadata(); md.set('x-case', 'cancel_from_client');
    const call = ctx.client.ServerStream({ count: 1000, response_size: 8, interval_ms: 20 }, md, deadline(CALL_TIMEOUT_MS));
    const { messages, err } = await readStream(call, (m, c, all) => { if (all.length === 3) c.cancel(); });
    expectCode(err, S.CANCELLED);
    expect(messages.length === 3, `received ${messages.length} messages`);
  },
  async cancel_from_server(ctx) {
    const call = ctx.client.ServerStream({ count: 10, response_size: 8, fail_after: 3, fail_with_code: 10 }, deadline(CALL_TIMEOUT_MS));
    const { messages, err } = await readStream(call);
    expectCode(err, S.ABORTED);
    expect(messages.length === 3, `received ${messages.length} messages before the failure`);
  },
  async gzip(ctx) {
    const gz = new pkg.InteropTest(ctx.target, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    try {
      const payload = Buffer.from('compressible gzip payload '.repeat(10000));
      const md = new grpc.Metadata(); md.set('x-response-compression', 'gzip');
      const { err, reply } = await unary(gz, 'Echo', { payload }, {}, md);
      expect(!err, `status ${err && err.message}`);
      expect(reply.payload.equals(payload), 'gzip echo payload mismatch');
      const md2 = new grpc.Metadata(); md2.set('x-response-compression', 'gzip');
      const call = gz.BidiStream(md2, deadline(CALL_TIMEOUT_MS));
      const done = readStream(call);
      for (let i = 0; i < 20; i++) call.write({ payload: payload.subarray(0, 1000 + i) });
      call.end();
      const r = await done;
      expect(!r.err, `bidi status ${r.err && r.err.message}`);
      expect(r.messages.length === 20, `gzip bidi received ${r.messages.length}`);
      r.messages.forEach((m, i) => expect(m.payload.equals(payload.subarray(0, 1000 + i)), `gzip bidi reply ${i} mismatch`));
    } finally { gz.close(); }
  },
  async metadata_bin(ctx) {
    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const md = new grpc.Metadata(); md.set('x-trace-bin', blob); md.set('x-user', 'alice');
    const { err, headers, trailers } = await unary(ctx.client, 'Echo', { payload: Buffer.from('m'), echo_metadata: ['x-trace-bin', 'x-user'] }, {}, md);
    expect(!err, `status ${err && err.message}`);
    for (const [where, m] of [['headers', headers], ['trailers', trailers]]) {
      expect(m, `${where} missing`);
      const bin = m.get('x-trace-bin')[0];
      expect(Buffer.isBuffer(bin) && bin.equals(blob), `${where}: x-trace-bin = ${bin && bin.toString('hex')}`);
      expect(m.get('x-user')[0] === 'alice', `${where}: x-user = ${m.get('x-user')[0]}`);
    }
  },
  async oversize(ctx) {
    const { err } = await unary(ctx.client, 'Echo', { response_size: 5 * MIB });
    expectCode(err, S.RESOURCE_EXHAUSTED);
  },
  async unknown_method(ctx) {
    for (const p of ['/r2m.interop.v1.InteropTest/NoSuchMethod', '/r2m.interop.v1.NoSuchService/Echo']) {
      const err = await new Promise((resolve) => ctx.client.makeUnaryRequest(p, (b) => b, (b) => b, Buffer.alloc(0),
        new grpc.Metadata(), deadline(CALL_TIMEOUT_MS), (e) => resolve(e)));
      expectCode(err, S.UNIMPLEMENTED);
    }
  },
  async handler_exception(ctx) {
    const { err } = await unary(ctx.client, 'Echo', { throw_exception: true });
    // grpcio and grpc-dotnet answer UNKNOWN; r2m-server's host maps unexpected exceptions to INTERNAL.
    expect(err && (err.code === S.UNKNOWN || err.code === S.INTERNAL),
      `expected UNKNOWN or INTERNAL, got ${err ? codeName(err.code) : 'OK'}: ${err && JSON.stringify(err.details)}`);
    for (const leak of ['secret', '   at ', '.cs:line', 'Traceback']) {
      expect(!(err.details || '').includes(leak), `status message leaks handler internals: ${JSON.stringify(err.details)}`);
    }
  },
  async status_unicode(ctx) {
    const { err } = await unary(ctx.client, 'Echo', { fail_with_code: 9, error_message: UNICODE_MESSAGE });
    expectCode(err, S.FAILED_PRECONDITION);
    expect(err.details === UNICODE_MESSAGE, `message ${JSON.stringify(err.details)}`);
  },
};

async function main() {
  const args = process.argv.slice(2);
  const target = args[0];
  if (!target) { console.error('usage: node interop_client.js HOST:PORT [--cases a,b]'); process.exit(2); }
  const ci = args.indexOf('--cases');
  const chosen = ci >= 0 ? args[ci + 1].split(',').filter(Boolean) : [];
  const unknown = chosen.filter((c) => !(c in cases));
  if (unknown.length) { console.error(`unknown case(s): ${unknown.join(', ')}`); process.exit(2); }
  const client = new pkg.InteropTest(target, grpc.credentials.createInsecure());
  const ctx = { target, client };
  for (const [name, fn] of Object.entries(cases)) {
    if (chosen.length && !chosen.includes(name)) continue;
    const t0 = Date.now();
    let ok = true; let detail = '';
    try { await fn(ctx); } catch (e) { ok = false; detail = e instanceof CaseFailed ? e.message : `${e.name}: ${e.message}`; }
    process.stdout.write(JSON.stringify({ case: name, ok, detail, ms: Date.now() - t0 }) + '\n');
  }
  client.close();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
