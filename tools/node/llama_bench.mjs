// llama.cpp (through node-llama-cpp, pinned 3.21.1, its prebuilt CPU binary) as the benchmark peer of
// `tests/R2M.Benchmarks -- models`. Usage: node llama_bench.mjs spec.json; prints one JSON line.
// spec: { threads, flashAttention, batchSize, models: [{ name, path }], prefill: { batch, seq, reps, tokens },
//         decode: { batch, prompt, new, reps, tokens } }   (tokens row-major, (B, T))
// Per model it times:
//  - prefill: `batch` sequences of `seq` tokens with logits requested at EVERY position (llama.cpp
//    computes the LM head for all of them), best of `reps`; node-llama-cpp's public API only returns
//    logits through its sampler, so this uses the pinned version's internal LlamaContextSequence
//    _decodeTokens with an all-true logits mask (checked to exist, else the run fails loudly);
//  - decode: the `batch` prompts are evaluated (not timed), then `new - 1` greedy steps of one token per
//    sequence, all sequences in one llama_decode batch per step (node-llama-cpp batches the sequences'
//    pending tokens of a cycle), timed like ours; the greedy tokens are returned for comparison.
// No network: getLlama never builds or downloads (build "never", skipDownload), the CPU backend only.
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
  progressLogs: false, logLevel: "error", maxThreads: spec.threads });
const rows = (flat, b) => Array.from({ length: b }, (_, i) => flat.slice(i * (flat.length / b), (i + 1) * (flat.length / b)));
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const greedy = { generateNext: { token: true, options: { temperature: 0 } } };

async function withContext(model, sequences, contextSize, body) {
  const context = await model.createContext({ sequences, contextSize, batchSize: spec.batchSize,
    threads: { ideal: spec.threads, min: spec.threads }, flashAttention: spec.flashAttention });
  try {
    const seqs = Array.from({ length: sequences }, () => context.getSequence());
    return await body(seqs, context);
  } finally {
    await context.dispose();
  }
}

async function prefill(model) {
  const p = spec.prefill;
  const prompts = rows(p.tokens, p.batch);
  return withContext(model, p.batch, p.seq + 64, async (seqs) => {
    if (typeof seqs[0]._decodeTokens !== "function")
      throw new Error("node-llama-cpp internals changed: LlamaContextSequence._decodeTokens is missing");
    let best = { wall: Infinity, cpu: Infinity };
    for (let rep = 0; rep <= p.reps; rep++) {
      await Promise.all(seqs.map(s => s.clearHistory()));
      const t0 = now(), c0 = cpu();
      await Promise.all(seqs.map((s, i) => s._decodeTokens(prompts[i], prompts[i].map(() => true), 5, s._tokenMeter,
        { size: 1, strategy: "eraseBeginning" }, () => undefined)));
      const t = { wall: now() - t0, cpu: cpu() - c0 };
      if (rep > 0) best = { wall: Math.min(best.wall, t.wall), cpu: Math.min(best.cpu, t.cpu) };
    }
    return best;
  });
}

async function decode(model) {
  const d = spec.decode;
  const prompts = rows(d.tokens, d.batch);
  return withContext(model, d.batch, d.prompt + d.new + 64, async (seqs) => {
    let best = { wall: Infinity, cpu: Infinity }, tokens = null;
    for (let rep = 0; rep <= d.reps; rep++) {
      await Promise.all(seqs.map(s => s.clearHistory()));
      const first = await Promise.all(seqs.map((s, i) =>
        s.controlledEvaluate(prompts[i].map((t, j) => j === prompts[i].length - 1 ? [t, greedy] : t))));
      const out = first.map(r => [r[r.length - 1].next.token]);
      const t0 = now(), c0 = cpu();
      for (let step = 1; step < d.new; step++) {
        const res = await Promise.all(seqs.map((s, i) => s.controlledEvaluate([[out[i][step - 1], greedy]])));
        res.forEach((r, i) => out[i].push(r[0].next.token));
      }
      const t = { wall: now() - t0, cpu: cpu() - c0 };
      if (rep > 0 || d.reps === 0) best = { wall: Math.min(best.wall, t.wall), cpu: Math.min(best.cpu, t.cpu) };
      tokens = out;
    }
    return { ...best, tokens };
  });
}

const results = {};
for (const m of spec.models) {
  const model = await llama.loadModel({ modelPath: m.path, gpuLayers: 0 });
  try {
    results[m.name] = { prefill: await prefill(model), decode: await decode(model) };
  } finally {
    await model.dispose();
  }
}
console.log(JSON.stringify({ llama_cpp: llama.buildType, system: llama.systemInfo, results }));
