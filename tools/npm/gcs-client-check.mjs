// Checks the Cloud Storage stand-in (tests/io/gcs_standin.h, run as the gcs-standin program) against Google's own
// Node client, @google-cloud/storage 8.4.0: if the official client lists, reads metadata and downloads (with its
// CRC-32C validation) from the stand-in, the stand-in speaks the JSON API the way Cloud Storage does, and the C++
// tests that use it test against something real.
//
//   node tools/npm/gcs-client-check.mjs <path to gcs-standin>
//
// The package is looked up from tools/npm (its node_modules), or from the folder GT_NPM_DIR names. Exit status: 0
// all checks passed, 1 a check failed, 77 the package is not installed (ctest's SKIP_RETURN_CODE).
//
// What it checks, for STORAGE_EMULATOR_HOST = the bare address and = address + "/storage/v1" (Node appends its
// paths to the variable verbatim, so both forms reach the stand-in):
//   - getFiles over several pages (the stand-in's page size is 2), names and generations as put;
//   - getMetadata: size and generation of an object whose name has '/', ' ' and '+';
//   - download() of whole objects byte-exact: Node validates the CRC-32C from x-goog-hash, so the stand-in's hash
//     (its own CRC-32C) agrees with Google's implementation;
//   - download({start, end}) byte ranges;
//   - download() through two 503 replies (Node's retries);
//   - a stand-in sending a wrong CRC-32C (--bad-hash) makes Node fail with CONTENT_DOWNLOAD_MISMATCH, which proves
//     the validation above really ran.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

// The client adds a listener per chunk to its validation streams; a 300 kB download passes the default of 10.
EventEmitter.defaultMaxListeners = 100;

const standinPath = process.argv[2];
if (!standinPath || !fs.existsSync(standinPath)) {
  console.error('usage: node tools/npm/gcs-client-check.mjs <path to gcs-standin> (not found: ' + standinPath + ')');
  process.exit(1);
}
const base = process.env.GT_NPM_DIR ? path.join(path.resolve(process.env.GT_NPM_DIR), 'x.js') : import.meta.url;
let Storage;
try {
  ({ Storage } = createRequire(base)('@google-cloud/storage'));
} catch (e) {
  console.log('SKIP: @google-cloud/storage is not installed (' + e.code + '); npm install it in tools/npm');
  process.exit(77);
}

// Test objects: random bytes (seeded) so a wrong byte anywhere shows.
function bytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  for (let i = 0; i < n; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    out[i] = Number(x >> 56n);
  }
  return out;
}
const objects = {
  'data/train-0.jsonl': bytes(1000, 1),
  'data/train-1.jsonl': bytes(70000, 2),
  'data/train-2.jsonl': bytes(5, 3),
  'data/sub/a b+c.bin': bytes(300000, 4),
  'data/empty': Buffer.alloc(0),
  'other/x': bytes(10, 5),
};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gcs-check-'));
const objectArgs = [];
Object.entries(objects).forEach(([name, data], i) => {
  const file = path.join(dir, 'o' + i);
  fs.writeFileSync(file, data);
  objectArgs.push('--object', `gs://bkt/${name}=${file}`);
});

// Starts gcs-standin with `args`; resolves to {url, stop}.
function startStandin(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(standinPath, [...objectArgs, '--page-size', '2', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', reject);
    readline.createInterface({ input: child.stdout }).once('line', (url) =>
      resolve({ url, stop: () => child.stdin.end() }));
  });
}

let failures = 0;
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures++;
}
const same = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

async function withEmulator(url, fn) {
  process.env.STORAGE_EMULATOR_HOST = url;
  const storage = new Storage({ projectId: 'gemma-tune-check', retryOptions: { retryDelayMultiplier: 1.01, maxRetryDelay: 0.05, totalTimeout: 30 } });
  try {
    await fn(storage.bucket('bkt'));
  } finally {
    delete process.env.STORAGE_EMULATOR_HOST;
  }
}

async function main() {
  const good = await startStandin([]);
  try {
    for (const suffix of ['', '/storage/v1']) {
      await withEmulator(good.url + suffix, async (bucket) => {
        const tag = `[STORAGE_EMULATOR_HOST=<stand-in>${suffix}] `;
        const [files] = await bucket.getFiles({ prefix: 'data/', autoPaginate: true });
        const names = files.map((f) => f.name);
        const expected = Object.keys(objects).filter((n) => n.startsWith('data/')).sort();
        check(JSON.stringify(names) === JSON.stringify(expected), tag + 'getFiles over pages of 2: ' + names.join(', '));
        check(files.every((f) => /^\d+$/.test(String(f.metadata.generation))), tag + 'listed generations are numbers');
        const [meta] = await bucket.file('data/sub/a b+c.bin').getMetadata();
        check(meta.size == 300000 && meta.name === 'data/sub/a b+c.bin', tag + 'getMetadata of a name with "/", " ", "+"');
        for (const name of ['data/train-0.jsonl', 'data/sub/a b+c.bin', 'data/empty']) {
          const [buf] = await bucket.file(name).download();
          check(same(buf, objects[name]), tag + `download ${name} (${objects[name].length} bytes, CRC-32C validated)`);
        }
        const pinned = files.find((f) => f.name === 'data/train-1.jsonl');
        const [pbuf] = await bucket.file('data/train-1.jsonl', { generation: pinned.metadata.generation }).download();
        check(same(pbuf, objects['data/train-1.jsonl']), tag + 'download with the listed generation');
        const [part] = await bucket.file('data/train-1.jsonl').download({ start: 5, end: 60004 });
        check(same(part, objects['data/train-1.jsonl'].subarray(5, 60005)), tag + 'ranged download bytes 5-60004');
      });
    }
  } finally {
    good.stop();
  }

  const flaky = await startStandin(['--fail-next', '2']);
  try {
    await withEmulator(flaky.url, async (bucket) => {
      const [buf] = await bucket.file('data/train-1.jsonl').download();
      check(same(buf, objects['data/train-1.jsonl']), 'download through two 503 replies (retried by the client)');
    });
  } finally {
    flaky.stop();
  }

  const bad = await startStandin(['--bad-hash']);
  try {
    await withEmulator(bad.url, async (bucket) => {
      let code = '(no error)';
      try {
        await bucket.file('data/train-0.jsonl').download();
      } catch (e) {
        code = e.code;
      }
      check(code === 'CONTENT_DOWNLOAD_MISMATCH', 'a wrong x-goog-hash crc32c is rejected by the client: ' + code);
    });
  } finally {
    bad.stop();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error('FAIL ' + (e.stack || e));
  process.exit(1);
});
