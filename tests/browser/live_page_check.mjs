// The live training page (issue #12) in a real browser: a tiny model trains with `train --live` while headless
// Chromium (Debian's chromium, driven by npm playwright-core) watches the page the trainer serves.
//
//   node tests/browser/live_page_check.mjs <gemma-tune binary> <source dir> <screenshot.png>
//
// What it checks, while the run goes on (GT_TEST_STEP_DELAY_MS slows each step so there is time to look):
//   - the page shows the newest train loss (#last-loss, 4 decimals) and it equals the loss of that step in the run's
//     metrics.jsonl; every loss on the loss chart equals metrics.jsonl's for its step;
//   - the last step shown grows while the run goes on;
//   - a reload shows the same history again (every step's loss as before) and keeps updating;
//   - a second tab opened meanwhile updates too;
//   - a third tab whose stream drops (its first /events answer cut short) reconnects and misses nothing;
//   - after a probe, the attention heatmap is drawn and the predictions table has rows of 5 choices;
//   - every tab ends with status "completed", the connection "finished" and every step of metrics.jsonl with its
//     loss; no script error on any page.
// A screenshot taken mid-run (from step 25) is written to the path given (and its path printed).
//
// Exit status: 0 all checks passed, 1 a check failed, 77 playwright-core or Chromium is missing (ctest's
// SKIP_RETURN_CODE). Chromium: GT_CHROMIUM, else /usr/bin/chromium or /usr/bin/chromium-browser. playwright-core:
// from tools/npm's node_modules, or the folder GT_NPM_DIR names.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [cliPath, sourceDir, screenshotPath] = process.argv.slice(2);
if (!cliPath || !sourceDir || !screenshotPath || !fs.existsSync(cliPath)) {
  console.error('usage: node tests/browser/live_page_check.mjs <gemma-tune> <source dir> <screenshot.png>');
  process.exit(1);
}

const npmDir = process.env.GT_NPM_DIR ? path.resolve(process.env.GT_NPM_DIR) : path.join(sourceDir, 'tools', 'npm');
let chromium;
try {
  ({ chromium } = createRequire(path.join(npmDir, 'x.js'))('playwright-core'));
} catch (e) {
  console.log(`SKIP: playwright-core is not installed in ${npmDir} (${e.code}); run make deps`);
  process.exit(77);
}
const chromiumPath = [process.env.GT_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/snap/bin/chromium']
  .find((p) => p && fs.existsSync(p));
if (!chromiumPath) {
  console.log('SKIP: no Chromium (Debian/Ubuntu: apt-get install chromium, or set GT_CHROMIUM to its path)');
  process.exit(77);
}

const STEPS = 60;
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1) + ' s';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-live-page-'));
let trainer = null, trainerErr = '', trainerExit = null, browser = null;

class CheckFailed extends Error {}
function fail(message) {
  throw new CheckFailed(message);
}

// Polls `probe` (async, returns a truthy value when satisfied) until it holds or `ms` pass. With `running`, what is
// awaited needs the run going: a trainer that has exited fails the check at once (its exit status is told).
async function until(what, probe, { ms = 30000, running = false } = {}) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const exited = trainerExit;
    const got = await probe();
    if (got) return got;
    if (running && exited)
      fail(`the trainer exited (${JSON.stringify(exited)}) before ${what}` +
           (exited.code === 0 ? ' (a run too fast to watch, or a page that stopped following it)' : ''));
    await sleep(100);
  }
  fail(`timed out after ${ms / 1000} s waiting for ${what}`);
}

// The same rows as tests/cli/tiny_setup.h: a small instruction set the 320-token tiny model learns within steps.
const ROWS = [
  { prompt: 'What colour is the sky?', response: 'Blue.' },
  { prompt: 'Name a fruit.', response: 'An apple.' },
  { prompt: 'Two plus two?', response: 'Four.' },
  { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hi.' },
    { role: 'assistant', content: 'Hi!' }] },
  { prompt: 'Capital of France?', response: 'Paris.' },
  { prompt: 'Opposite of hot?', response: 'Cold.' },
  { prompt: 'A word for happy?', response: 'Glad.' },
  { prompt: 'Count to three.', response: 'One, two, three.' },
];

function makeModelAndData() {
  const model = path.join(tmp, 'model'), data = path.join(tmp, 'data');
  const r = spawnSync(cliPath, ['init-random', '--family', 'gemma4', '--size', 'tiny', '--vocab-size', '320',
    '--dtype', 'float32', '--out', model, '--tokenizer',
    path.join(sourceDir, 'tests/fixtures/data/gemma4-tiny/tokenizer.json'), '--seed', '3'], { encoding: 'utf8' });
  if (r.status !== 0)
    fail(`init-random ended with ${r.error ? r.error.message : r.signal || 'exit status ' + r.status}: ${r.stderr}`);
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'train.jsonl'), ROWS.map((x) => JSON.stringify(x) + '\n').join(''));
  fs.writeFileSync(path.join(data, 'validation.jsonl'), ROWS.slice(0, 3).map((x) => JSON.stringify(x) + '\n').join(''));
  return { model, data };
}

// A port free right now (the trainer moves to the next one if it is taken meanwhile; the URL is read from it).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts training; resolves with the page's URL from the trainer's "live        http://..." line.
function startTrainer(model, data, port) {
  const runs = path.join(tmp, 'runs');
  trainer = spawn(cliPath, ['train', '--model', model, '--data', data, '--out', runs, '--batch-size', '2',
    '--max-seq-len', '64', '--lr', '1e-2', '--max-steps', String(STEPS), '--eval-every', '20', '--live', String(port),
    '--live-every', '5'], { env: { ...process.env, GT_TEST_STEP_DELAY_MS: '100' }, stdio: ['ignore', 'pipe', 'pipe'] });
  trainer.stdout.resume();
  const exited = new Promise((resolve) => trainer.on('exit', (code, signal) => {
    trainerExit = { code, signal };
    resolve();
  }));
  const url = new Promise((resolve, reject) => {
    let buffered = '';
    trainer.stderr.setEncoding('utf8');
    trainer.stderr.on('data', (chunk) => {
      trainerErr += chunk;
      buffered += chunk;
      const m = buffered.match(/^live\s+(http:\/\/\S+)/m);
      if (m) {
        buffered = '';
        resolve(m[1]);
      }
    });
    exited.then(() => reject(new Error(`the trainer exited (${JSON.stringify(trainerExit)}) without a live URL`)));
  });
  return { url, exited, runs };
}

// step -> train loss, from the run's metrics.jsonl (evaluation rows left out).
function metricsLosses(runs) {
  const dirs = fs.existsSync(runs) ? fs.readdirSync(runs) : [];
  const out = new Map();
  for (const d of dirs) {
    const file = path.join(runs, d, 'metrics.jsonl');
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let row;
      try {
        row = JSON.parse(line);
      } catch {
        continue;  // a row being written
      }
      if (typeof row.loss === 'number' && typeof row.step === 'number' && !('eval_loss' in row))
        out.set(row.step, row.loss);
    }
  }
  return out;
}

// What a page shows: the last step, the newest loss and its step, status, connection, and the loss chart's data.
function shown(page) {
  return page.evaluate(() => {
    const loss = document.getElementById('last-loss');
    const cols = window.gtLive ? window.gtLive.columns : { step: [], loss: [] };
    const losses = {};
    cols.step.forEach((s, i) => { if (cols.loss[i] !== null) losses[s] = cols.loss[i]; });
    return {
      lastStep: Number(document.body.dataset.lastStep || 0),
      lastSeq: Number(document.body.dataset.lastSeq || 0),
      loss: loss.textContent,
      lossStep: Number(loss.dataset.step || 0),
      status: document.getElementById('status').textContent,
      stepText: document.getElementById('step').textContent,
      eta: document.getElementById('eta').textContent,
      connection: document.body.dataset.connection,
      losses,
    };
  });
}

const pageErrors = [];
async function openPage(context, url, name) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${name} console: ${m.text()}`); });
  await page.goto(url);
  return page;
}

// Every loss the page has equals metrics.jsonl's loss of that step, to the 4 decimals the page shows. With
// `complete`, every step of metrics.jsonl is on the page too (history and stream joined without a gap).
function checkLossesAgainstMetrics(what, losses, metrics, complete = false) {
  const steps = Object.keys(losses);
  if (!steps.length) fail(`${what}: the loss chart has no values`);
  for (const s of steps) {
    const want = metrics.get(Number(s));
    if (want === undefined) continue;  // metrics.jsonl not flushed that far yet
    if (losses[s].toFixed(4) !== want.toFixed(4))
      fail(`${what}: step ${s} loss ${losses[s]} on the page, ${want} in metrics.jsonl`);
  }
  if (complete) {
    const missing = [...metrics.keys()].filter((s) => !(s in losses));
    if (missing.length) fail(`${what}: steps ${missing.join(', ')} of metrics.jsonl are not on the page`);
  }
}

async function main() {
  const { model, data } = makeModelAndData();
  console.log(`model and data ready (${elapsed()})`);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const run = startTrainer(model, data, await freePort());
  const url = await run.url;
  console.log(`trainer serves ${url} (${elapsed()})`);
  const stillRunning = (what) => {
    if (trainerExit) fail(`the trainer exited (${JSON.stringify(trainerExit)}) before ${what}`);
  };

  // 1. The newest loss equals metrics.jsonl's loss at that step.
  const a = await openPage(context, url, 'tab 1');
  const first = await until('a train loss on the page', async () => {
    const s = await shown(a);
    return s.lossStep > 0 && s.loss !== '–' ? s : null;
  }, { running: true });
  const metricLoss = await until(`step ${first.lossStep} in metrics.jsonl`,
    async () => metricsLosses(run.runs).get(first.lossStep), { ms: 5000 });
  if (metricLoss.toFixed(4) !== first.loss)
    fail(`the page shows loss ${first.loss} at step ${first.lossStep}; metrics.jsonl has ${metricLoss}`);
  console.log(`page shows loss ${first.loss} at step ${first.lossStep} = metrics.jsonl (${elapsed()})`);

  // 2. The last step grows while the run goes on.
  stillRunning('the page could be seen growing');
  const grown = await until('the last step to grow', async () => {
    const s = await shown(a);
    return s.lastStep > first.lastStep ? s : null;
  }, { running: true });
  console.log(`last step ${first.lastStep} -> ${grown.lastStep} (${elapsed()})`);

  // 3. A probe: attention heatmap and predictions.
  const probe = await until('a probe on the page', () => a.evaluate(() => {
    const canvas = document.getElementById('attention');
    const rows = [...document.querySelectorAll('#predictions tbody tr')];
    if (canvas.hidden || !canvas.dataset.step || canvas.width < 2 || !rows.length) return null;
    // The heatmap is drawn: its pixels are not all one colour.
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    for (let i = 0; i < px.length && colours.size < 3; i += 4)
      colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return {
      step: Number(canvas.dataset.step), size: canvas.width, colours: colours.size, rows: rows.length,
      choices: rows.map((r) => r.querySelectorAll('td.choice .token').length),
    };
  }), { running: true });
  if (probe.colours < 2) fail(`the attention heatmap at step ${probe.step} is one flat colour`);
  if (probe.choices.some((n) => n !== 5)) fail(`predictions rows should have 5 choices each, got ${probe.choices}`);
  console.log(`probe at step ${probe.step}: heatmap ${probe.size}px, ${probe.rows} prediction rows (${elapsed()})`);

  // 4. A reload shows the same history and keeps updating.
  stillRunning('the reload');
  const before = await shown(a);
  await a.reload();
  const reloaded = await until('the history after the reload', async () => {
    const s = await shown(a);
    const complete = Object.keys(s.losses).length >= Object.keys(before.losses).length;
    return s.lastStep >= before.lastStep && complete ? s : null;
  }, { running: true });
  for (const [step, loss] of Object.entries(before.losses))
    if (reloaded.losses[step] !== loss)
      fail(`after the reload step ${step} shows loss ${reloaded.losses[step]}, was ${loss}`);
  console.log(`reload: ${Object.keys(before.losses).length} steps as before (${elapsed()})`);
  await until('the reloaded page to keep updating', async () => (await shown(a)).lastStep > reloaded.lastStep,
    { running: true });

  // 5. A second tab at the same time updates too, as does the first.
  stillRunning('the second tab');
  const b = await openPage(context, url, 'tab 2');
  const bFirst = await until('the second tab to show the history', async () => {
    const s = await shown(b);
    return s.lastStep > 0 ? s : null;
  }, { running: true });
  const aAtB = await shown(a);
  await until('both tabs to update', async () =>
    (await shown(b)).lastStep > bFirst.lastStep && (await shown(a)).lastStep > aAtB.lastStep, { running: true });
  console.log(`second tab: step ${bFirst.lastStep} -> ${(await shown(b)).lastStep} (${elapsed()})`);

  // The screenshot, mid-run once the first evaluation (step 20) is on the charts.
  await until('step 25 on the page', async () => (await shown(a)).lastStep >= 25, { running: true });
  fs.mkdirSync(path.dirname(path.resolve(screenshotPath)), { recursive: true });
  await a.screenshot({ path: screenshotPath, fullPage: true });
  const mid = await shown(a);
  console.log(`screenshot at step ${mid.lastStep}: ${path.resolve(screenshotPath)}`);
  // The header says how far the run is and how long it has left.
  if (!new RegExp(`^\\d+ / ${STEPS}$`).test(mid.stepText))
    fail(`#step shows '${mid.stepText}', expected 'k / ${STEPS}'`);
  if (!/^(\d+h )?(\d+m )?\d+[sm]$/.test(mid.eta)) fail(`#eta shows '${mid.eta}' mid-run, expected a duration`);
  console.log(`header: step ${mid.stepText}, ETA ${mid.eta}`);

  // 6. A stream that drops: its first /events answer is cut short (the events so far, then the end), so the page
  // reconnects, with Last-Event-ID, to the real stream; it must go on from there without a gap (checked at the end).
  stillRunning('the dropped stream');
  const c = await context.newPage();
  c.on('pageerror', (e) => pageErrors.push(`tab 3: ${e.message}`));
  let streams = 0;
  await c.route(/\/events(\?|$)/, async (route) => {
    if (++streams > 1) return route.continue();
    const historyUrl = new URL('history.json', url);
    historyUrl.search = new URL(url).search;  // the token, if any
    const events = await (await fetch(historyUrl)).json();
    const body = 'retry: 200\n\n' + events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') +
                 `id: ${events[events.length - 1].seq}\n\n`;
    await route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
  });
  await c.goto(url);
  const cFirst = await until('the third tab to show the history', async () => {
    const s = await shown(c);
    return s.lastStep > 0 ? s : null;
  }, { running: true });
  await until('the third tab to reconnect and update', async () =>
    streams >= 2 && (await shown(c)).lastStep > cFirst.lastStep + 1, { running: true });
  console.log(`third tab: stream cut at step ${cFirst.lastStep}, reconnected, now ${(await shown(c)).lastStep}`);

  // 7. The end: every tab says completed and stops listening; every loss shown is metrics.jsonl's, none missing.
  for (const [name, page] of [['tab 1', a], ['tab 2', b], ['tab 3', c]]) {
    const end = await until(`${name} to show the run completed`, async () => {
      const s = await shown(page);
      return s.status === 'completed' && s.connection === 'finished' ? s : null;
    }, { ms: 60000 });
    if (end.lastStep !== STEPS) fail(`${name}: the finished run shows step ${end.lastStep}, expected ${STEPS}`);
    checkLossesAgainstMetrics(name, end.losses, metricsLosses(run.runs), /*complete=*/true);
  }
  await Promise.race([run.exited, sleep(30000)]);
  if (!trainerExit) fail('the trainer is still running 30 s after the page said completed');
  if (trainerExit.code !== 0) fail(`the trainer exited with ${JSON.stringify(trainerExit)}`);
  if (pageErrors.length) fail('script errors on the page:\n  ' + pageErrors.join('\n  '));
  console.log(`every tab: completed at step ${STEPS}; trainer exited 0 (${elapsed()})`);
}

// ctest's timeout ends this script with a signal: the trainer (and its port) must not outlive it.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (trainer && !trainerExit) trainer.kill('SIGKILL');
    process.exit(1);
  });
}

let status = 0;
try {
  await main();
  console.log('PASS');
} catch (e) {
  console.error(`FAIL (${elapsed()}): ` + (e instanceof CheckFailed ? e.message : e.stack || e));
  if (trainerErr) console.error('--- trainer stderr (end) ---\n' + trainerErr.slice(-4000));
  status = 1;
} finally {
  if (trainer && !trainerExit) trainer.kill('SIGKILL');
  if (browser) await browser.close().catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
