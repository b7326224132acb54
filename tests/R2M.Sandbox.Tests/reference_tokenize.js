// Reference encoder for SandboxVocabularyTests: loads a tokenizer.json + tokenizer_config.json
// with @lenml/tokenizers (a fork of transformers.js's tokenizers) and prints, for each line of
// stdin (a JSON string), the encoded ids as a JSON array on one line.
// Usage: node reference_tokenize.js <node_modules dir> <tokenizer dir>  < texts.jsonl
const path = require("path");
const fs = require("fs");
const [nodeModules, dir] = process.argv.slice(2);
const { TokenizerLoader } = require(path.join(nodeModules, "@lenml/tokenizers"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const lines = fs.readFileSync(0, "utf8").split("\n").filter((l) => l.length > 0);
for (const line of lines) {
  const text = JSON.parse(line);
  const ids = tokenizer.encode(text);
  const decoded = tokenizer.decode(ids, { skip_special_tokens: true });
  process.stdout.write(JSON.stringify({ ids, decoded }) + "\n");
}
