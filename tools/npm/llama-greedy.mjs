#!/usr/bin/env node
// Greedy decoding with llama.cpp (through node-llama-cpp's prebuilt CPU binaries) on a GGUF file, to check
// gemma-tune's GGUF export against an independent runtime. Prints one JSON object on stdout:
//   {"model": ..., "prompt_ids": [...], "ids": [...], "text": "..."}
// and, when llama.cpp refuses the file, {"error": "...", "log": [llama.cpp's log lines]} with exit code 1.
//
//   node tools/npm/llama-greedy.mjs MODEL.gguf --ids 2,105,9,10 [--n 16]
//   node tools/npm/llama-greedy.mjs MODEL.gguf --text "Hello" [--bos] [--n 16]
//   node tools/npm/llama-greedy.mjs MODEL.gguf --tokenize TEXTS.json
//
// --ids    prompt token ids, comma-separated (used as given: add the BOS id yourself)
// --text   prompt text, tokenized by the GGUF's own tokenizer (special tokens parsed); --bos puts BOS first
// --n      tokens to generate (default 16); generation does not stop at end-of-generation tokens
// --threads CPU threads (default 2)
// --tokenize  only load the vocabulary and tokenize each string of a JSON array (special tokens parsed, nothing
//             added); prints {"model": ..., "tokens": [[ids], ...]}
// The module is imported from NODE_LLAMA_CPP_MODULE when that is set (a path to node-llama-cpp's
// dist/index.js), else as "node-llama-cpp". Nothing is downloaded or built: only prebuilt binaries are used.
import fs from "node:fs";
import process from "node:process";
import path from "node:path";
import { pathToFileURL } from "node:url";

function usage(msg) {
  if (msg) console.error(`llama-greedy: ${msg}`);
  console.error("usage: llama-greedy.mjs MODEL.gguf (--ids 1,2,3 | --text TEXT [--bos]) [--n 16] [--threads 2]");
  process.exit(2);
}

const args = process.argv.slice(2);
let modelPath, ids, text, tokenizeFile, bos = false, n = 16, threads = 2;
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const value = () => {
    if (i + 1 >= args.length) usage(`${a} needs a value`);
    return args[++i];
  };
  if (a === "--ids") {
    ids = value().split(",").filter((s) => s.length > 0).map((s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 0) usage(`--ids: "${s}" is not a token id`);
      return v;
    });
  } else if (a === "--text") text = value();
  else if (a === "--bos") bos = true;
  else if (a === "--tokenize") tokenizeFile = value();
  else if (a === "--n") n = Number(value());
  else if (a === "--threads") threads = Number(value());
  else if (a.startsWith("--")) usage(`unknown option ${a}`);
  else if (!modelPath) modelPath = a;
  else usage(`unexpected argument ${a}`);
}
if (!modelPath) usage("no model file");
if ([ids, text, tokenizeFile].filter((x) => x !== undefined).length !== 1)
  usage("give exactly one of --ids, --text and --tokenize");
if (!Number.isInteger(n) || n < 1) usage("--n must be a positive integer");

const moduleSpec = process.env.NODE_LLAMA_CPP_MODULE
  ? pathToFileURL(path.resolve(process.env.NODE_LLAMA_CPP_MODULE)).href
  : "node-llama-cpp";
const { getLlama, LlamaLogLevel } = await import(moduleSpec);

const log = [];
const llama = await getLlama({
  gpu: false,
  build: "never",
  skipDownload: true,
  usePrebuiltBinaries: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.warn,
  logger: (level, message) => log.push(`${level}: ${message.trimEnd()}`),
});

let model, context;
try {
  if (tokenizeFile !== undefined) {
    const texts = JSON.parse(fs.readFileSync(tokenizeFile, "utf8"));
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string"))
      throw new Error(`${tokenizeFile}: expected a JSON array of strings`);
    model = await llama.loadModel({ modelPath: path.resolve(modelPath), vocabOnly: true });
    const tokens = texts.map((t) => model.tokenize(t, true));
    process.stdout.write(JSON.stringify({ model: modelPath, tokens }) + "\n");
    process.exit(0);
  }
  model = await llama.loadModel({ modelPath: path.resolve(modelPath), gpuLayers: 0 });
  let prompt = ids;
  if (text !== undefined) {
    prompt = model.tokenize(text, true);
    if (bos) {
      if (model.tokens.bos == null) throw new Error("the model has no BOS token");
      prompt = [model.tokens.bos, ...prompt];
    }
  }
  if (prompt.length === 0) throw new Error("empty prompt");
  context = await model.createContext({ contextSize: Math.max(64, prompt.length + n + 8), threads });
  const sequence = context.getSequence();
  const out = [];
  for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    out.push(token);
    if (out.length >= n) break;
  }
  const result = { model: modelPath, prompt_ids: prompt, ids: out, text: model.detokenize(out, true) };
  process.stdout.write(JSON.stringify(result) + "\n");
} catch (e) {
  // llama.cpp's log lines reach the logger asynchronously: let the last ones (the reason of a refusal) arrive.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const errors = log.filter((l) => l.startsWith("error") || l.startsWith("warn"));
  process.stdout.write(JSON.stringify({ model: modelPath, error: String(e?.message ?? e), log: errors }) + "\n");
  process.exitCode = 1;
} finally {
  await context?.dispose();
  await model?.dispose();
  await llama.dispose();
}
