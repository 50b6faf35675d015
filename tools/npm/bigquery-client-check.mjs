// Checks the BigQuery stand-in (tests/io/bigquery_standin.h, run as the bigquery_standin program) against Google's
// own Node client, @google-cloud/bigquery 9.3.0: if the official client reads tables, runs queries, polls jobs and
// converts typed values from the stand-in, the stand-in speaks the REST API the way BigQuery does, and the C++ tests
// that use it test against something real. The typed rows are tests/fixtures/io/bigquery/typed_table.json, whose
// "text" is what gemma-tune's converter (gt::io::convert_bq_row) must give; this check ties that text to the values
// Google's client makes of the same wire rows.
//
//   node tools/npm/bigquery-client-check.mjs <path to bigquery_standin>
//
// The package is looked up from tools/npm (its node_modules), or from the folder GT_NPM_DIR names. Exit status: 0
// all checks passed, 1 a check failed, 77 the package is not installed (ctest's SKIP_RETURN_CODE).
//
// What it checks, for BIGQUERY_EMULATOR_HOST = the bare address and = address + "/bigquery/v2" (Node appends its
// paths to the variable verbatim, so both forms reach the stand-in):
//   - table.getRows() over pages of 5 (23 rows: every row once, in order; 5 tabledata.list requests after the
//     first, each following pageToken), and getRows({startIndex: 7}) (Node sends startIndex again beside each
//     pageToken; the stand-in lets the token win, as BigQuery does);
//   - bigquery.query() paging its results through jobs.getQueryResults with pageToken;
//   - every value type of the fixture, read by getRows() and by query(): Number for INT64/FLOAT64, Big for
//     NUMERIC/BIGNUMERIC, booleans, Buffer for BYTES, BigQueryTimestamp from int64 microseconds, BigQueryDate/
//     Time/Datetime and Geography, JSON as text, arrays for REPEATED, objects for RECORD, null for NULL -- each
//     compared with the fixture's expected text;
//   - a query whose job reports jobComplete:false twice before its results (Node polls getQueryResults);
//   - getRows() and query() through two 503 replies (Node's retries);
//   - the server's error message reaching the caller for a query it rejects (400) and a missing table (404).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const standinPath = process.argv[2];
if (!standinPath || !fs.existsSync(standinPath)) {
  console.error('usage: node tools/npm/bigquery-client-check.mjs <path to bigquery_standin> (not found: ' + standinPath + ')');
  process.exit(1);
}
const base = process.env.GT_NPM_DIR ? path.join(path.resolve(process.env.GT_NPM_DIR), 'x.js') : import.meta.url;
let BigQuery, PreciseDate;
try {
  const req = createRequire(base);
  ({ BigQuery } = req('@google-cloud/bigquery'));
  // The client's own dependency, resolved from where the client is.
  ({ PreciseDate } = createRequire(req.resolve('@google-cloud/bigquery'))('@google-cloud/precise-date'));
} catch (e) {
  console.log('SKIP: @google-cloud/bigquery is not installed (' + e.code + '); npm install it in tools/npm');
  process.exit(77);
}

const here = path.dirname(fileURLToPath(import.meta.url));
const typedFile = path.join(here, '..', '..', 'tests', 'fixtures', 'io', 'bigquery', 'typed_table.json');
const typed = JSON.parse(fs.readFileSync(typedFile, 'utf8'));
const TYPED_SQL = typed.queries[0];

// A plain table of 23 rows: id (INTEGER), text (STRING).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-check-'));
const bigFile = path.join(dir, 'big.json');
const BIG_SQL = 'SELECT id, text FROM ds.big ORDER BY id';
const N = 23;
fs.writeFileSync(bigFile, JSON.stringify({
  schema: { fields: [{ name: 'id', type: 'INTEGER', mode: 'REQUIRED' }, { name: 'text', type: 'STRING' }] },
  rows: Array.from({ length: N }, (_, i) => ({ f: [{ v: String(i) }, { v: 'row ' + i }] })),
  queries: [BIG_SQL],
}));

// Starts bigquery_standin with `args`; resolves to {url, log, stop}; log collects "METHOD target" per request.
function startStandin(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(standinPath, ['--table', `proj.ds.typed=${typedFile}`, '--table', `proj.ds.big=${bigFile}`,
      '--page-size', '5', '--log', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', reject);
    const log = [];
    let url = null;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (url === null) {
        url = line;
        resolve({ url, log, stop: () => child.stdin.end() });
      } else if (line.startsWith('REQ ')) {
        log.push(line.slice(4));
      }
    });
  });
}

// The stand-in logs a request before answering it, but its log lines travel through a pipe that Node may read
// after the reply: before counting requests, send a marker request and wait for its line.
let markers = 0;
async function settle(standin) {
  const marker = `/sync-${++markers}`;
  await fetch(standin.url + marker).then((r) => r.text());
  for (let i = 0; i < 500 && !standin.log.includes('GET ' + marker); i++) await new Promise((r) => setTimeout(r, 10));
  const at = standin.log.indexOf('GET ' + marker);
  if (at < 0) throw new Error('the stand-in did not log ' + marker);
  standin.log.splice(at, 1);
}

let failures = 0;
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures++;
}

// No Compute Engine metadata server is asked for a project or credentials (none is there; the emulator needs
// neither).
process.env.METADATA_SERVER_DETECTION = 'none';

function client(url) {
  process.env.BIGQUERY_EMULATOR_HOST = url;
  try {
    return new BigQuery({
      projectId: 'proj',
      retryOptions: { retryDelayMultiplier: 1.01, maxRetryDelay: 0.05, totalTimeout: 30 },
    });
  } finally {
    delete process.env.BIGQUERY_EMULATOR_HOST;
  }
}

const ids = (rows) => rows.map((r) => r.id);
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
const sameList = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const show = (v) => {
  try {
    return typeof v === 'object' && v !== null ? `${v.constructor.name}(${JSON.stringify(v)})` : JSON.stringify(v);
  } catch {
    return String(v);
  }
};
const micros = (iso) => new PreciseDate(iso).getFullTime() / 1000n;

// Whether the client's value `js` of a scalar of `type` agrees with our text `text`; returns a complaint or null.
function scalar(type, js, text) {
  const cls = js === null || js === undefined ? '' : js.constructor.name;
  switch (type) {
    case 'INTEGER': case 'INT64':
      return typeof js === 'number' && js === Number(text) ? null : `INT64 ${show(js)} vs "${text}"`;
    case 'FLOAT': case 'FLOAT64':
      // NaN and the infinities must also be spelled as the API spells them.
      return typeof js === 'number' && Object.is(js, Number(text)) && (Number.isFinite(js) || String(js) === text)
        ? null : `FLOAT64 ${show(js)} vs "${text}"`;
    case 'NUMERIC': case 'BIGNUMERIC':
      return cls === 'Big' && js.eq(text) ? null : `${type} ${show(js)} vs "${text}"`;
    case 'BOOLEAN': case 'BOOL':
      return js === (text === 'true') ? null : `BOOL ${show(js)} vs "${text}"`;
    case 'TIMESTAMP':
      return cls === 'BigQueryTimestamp' && micros(js.value) === BigInt(text) ? null : `TIMESTAMP ${show(js)} vs "${text}" µs`;
    case 'DATE': case 'TIME': case 'DATETIME': case 'GEOGRAPHY': {
      const want = { DATE: 'BigQueryDate', TIME: 'BigQueryTime', DATETIME: 'BigQueryDatetime', GEOGRAPHY: 'Geography' }[type];
      return cls === want && js.value === text ? null : `${type} ${show(js)} vs "${text}"`;
    }
    case 'BYTES':
      return Buffer.isBuffer(js) && js.toString('base64') === text ? null : `BYTES ${show(js)} vs "${text}"`;
    default:  // STRING, JSON
      return js === text ? null : `${type} ${show(js)} vs ${JSON.stringify(text)}`;
  }
}

// A member of our REPEATED/RECORD JSON text (`m`, already parsed) against the client's value.
function member(field, js, m) {
  if (m === null) return js === null ? null : `${field.name}: null vs ${show(js)}`;
  if (field.type === 'RECORD') return record(field, js, m);
  switch (field.type) {
    case 'INTEGER': case 'INT64':
      return js === Number(m) ? null : `${field.name}: ${show(js)} vs ${JSON.stringify(m)}`;
    case 'FLOAT': case 'FLOAT64':
      return Object.is(js, Number(m)) ? null : `${field.name}: ${show(js)} vs ${JSON.stringify(m)}`;
    case 'BOOLEAN': case 'BOOL':
      return js === m ? null : `${field.name}: ${show(js)} vs ${JSON.stringify(m)}`;
    case 'JSON':
      return typeof js === 'string' && JSON.stringify(JSON.parse(js)) === JSON.stringify(m) ? null
        : `${field.name}: ${show(js)} vs ${JSON.stringify(m)}`;
    default:
      return typeof m === 'string' ? scalar(field.type, js, m) : `${field.name}: our member ${JSON.stringify(m)} is not a string`;
  }
}
function repeated(field, js, arr) {
  if (!Array.isArray(js) || !Array.isArray(arr) || js.length !== arr.length) return `${field.name}: ${show(js)} vs ${JSON.stringify(arr)}`;
  for (let i = 0; i < arr.length; i++) {
    const e = member(field, js[i], arr[i]);
    if (e) return `${field.name}[${i}]: ${e}`;
  }
  return null;
}
function record(field, js, obj) {
  if (js === null || typeof js !== 'object') return `${field.name}: ${show(js)} vs ${JSON.stringify(obj)}`;
  if (!sameList(Object.keys(obj), field.fields.map((f) => f.name))) return `${field.name}: keys ${Object.keys(obj)} not in schema order`;
  for (const sub of field.fields) {
    const e = sub.mode === 'REPEATED' ? repeated(sub, js[sub.name], obj[sub.name]) : member(sub, js[sub.name], obj[sub.name]);
    if (e) return `${field.name}.${e}`;
  }
  return null;
}
// One top-level column: our text (or null) against the client's value.
function column(field, js, text) {
  if (text === null) return js === null ? null : `${field.name}: NULL vs ${show(js)}`;
  if (field.mode === 'REPEATED') return repeated(field, js, JSON.parse(text));
  if (field.type === 'RECORD') return record(field, js, JSON.parse(text));
  const e = scalar(field.type, js, text);
  return e ? `${field.name}: ${e}` : null;
}
function typedAgree(rows, tag) {
  check(rows.length === typed.text.length, `${tag}: ${rows.length} typed rows`);
  typed.text.forEach((want, r) => {
    const complaints = typed.schema.fields.map((f, c) => column(f, rows[r]?.[f.name], want[c])).filter(Boolean);
    check(complaints.length === 0, `${tag}: typed row ${r} agrees with the expected text` +
      (complaints.length ? ': ' + complaints.join('; ') : ''));
  });
}

async function main() {
  const good = await startStandin([]);
  try {
    for (const suffix of ['', '/bigquery/v2']) {
      const tag = `[BIGQUERY_EMULATOR_HOST=<stand-in>${suffix}]`;
      const bq = client(good.url + suffix);
      good.log.length = 0;
      const [rows] = await bq.dataset('ds').table('big').getRows();
      await settle(good);
      check(sameList(ids(rows), range(0, N)), `${tag} getRows over pages of 5: ids ${ids(rows).join(',')}`);
      check(rows[N - 1]?.text === `row ${N - 1}`, `${tag} getRows values`);
      const data = good.log.filter((l) => l.startsWith(`GET ${suffix}/projects/proj/datasets/ds/tables/big/data?`));
      check(data.length === 5 && data.slice(1).every((l) => l.includes('pageToken=')),
        `${tag} tabledata.list called 5 times, following pageToken: ${data.length}`);
      check(data.every((l) => l.includes('formatOptions.useInt64Timestamp=true')), `${tag} tabledata.list asks for int64 timestamps`);
      const [tail] = await bq.dataset('ds').table('big').getRows({ startIndex: 7 });
      check(sameList(ids(tail), range(7, N)), `${tag} getRows({startIndex: 7}): ids ${ids(tail).join(',')}`);

      good.log.length = 0;
      const [qrows] = await bq.query({ query: BIG_SQL });
      await settle(good);
      check(sameList(ids(qrows), range(0, N)), `${tag} query() paged: ids ${ids(qrows).join(',')}`);
      const posts = good.log.filter((l) => l === `POST ${suffix}/projects/proj/queries?prettyPrint=false` || l === `POST ${suffix}/projects/proj/queries`);
      const gets = good.log.filter((l) => l.startsWith(`GET ${suffix}/projects/proj/queries/job_`));
      check(posts.length === 1 && gets.length === 4 && gets.every((l) => l.includes('pageToken=') && l.includes('location=US')),
        `${tag} one jobs.query, then 4 getQueryResults pages by pageToken: ${good.log.join(' | ')}`);

      const [trows] = await bq.dataset('ds').table('typed').getRows();
      typedAgree(trows, `${tag} getRows`);
      const [qtyped] = await bq.query({ query: TYPED_SQL });
      typedAgree(qtyped, `${tag} query`);
    }

    const bq = client(good.url);
    let msg = '(no error)';
    try {
      await bq.query({ query: 'SELECT nothing_known' });
    } catch (e) {
      msg = e.message;
    }
    check(msg.includes('Syntax error: the stand-in knows no query'), 'a rejected query reaches the caller with its message: ' + msg);
    msg = '(no error)';
    try {
      await bq.dataset('ds').table('nope').getRows();
    } catch (e) {
      msg = e.message;
    }
    check(msg.includes('Not found: Table proj:ds.nope'), 'a missing table reaches the caller with its message: ' + msg);
  } finally {
    good.stop();
  }

  const slow = await startStandin(['--pending-polls', '2']);
  try {
    const [rows] = await client(slow.url).query({ query: BIG_SQL });
    await settle(slow);
    check(sameList(ids(rows), range(0, N)), 'query() of a job complete after 2 polls: ids ' + ids(rows).join(','));
    const gets = slow.log.filter((l) => l.startsWith('GET /projects/proj/queries/job_1?'));
    check(gets.length === 2 + 5 && gets.slice(0, 3).every((l) => !l.includes('pageToken=')),
      `polled twice without a page token, then 5 pages: ${gets.length} getQueryResults`);
  } finally {
    slow.stop();
  }

  const flaky = await startStandin(['--fail-next', '2']);
  try {
    const bq = client(flaky.url);
    const [rows] = await bq.dataset('ds').table('big').getRows();
    await settle(flaky);
    check(sameList(ids(rows), range(0, N)), 'getRows through two 503 replies (retried by the client)');
    check(flaky.log.length === 2 + 1 + 5, `2 failed + tables.get + 5 pages = ${flaky.log.length} requests`);
  } finally {
    flaky.stop();
  }
  const flakyQuery = await startStandin(['--fail-next', '2']);
  try {
    const [rows] = await client(flakyQuery.url).query({ query: BIG_SQL });
    await settle(flakyQuery);
    check(sameList(ids(rows), range(0, N)), 'query() through two 503 replies to jobs.query (retried by the client)');
    const posts = flakyQuery.log.filter((l) => l.startsWith('POST '));
    check(posts.length === 3, `jobs.query sent 3 times: ${posts.length}`);
  } finally {
    flakyQuery.stop();
  }

  fs.rmSync(dir, { recursive: true, force: true });
  console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error('FAIL ' + (e.stack || e));
  process.exit(1);
});
