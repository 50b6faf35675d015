// gemma-tune's live training page: reads the events of src/live/event_hub.h (its top comment is the schema) from
// history.json, then from the Server-Sent Events stream at events?after=SEQ, and draws them. Plain ES2020 and uPlot
// (the global `uPlot`, from uPlot.iife.min.js). Every event is applied once, in seq order, whichever way it came; the
// drawing happens at most once a frame (requestAnimationFrame), charts are updated with setData, never re-created.
//
// For tests and scripts: body[data-last-seq], body[data-last-step], body[data-connection]; #last-loss (newest train
// loss, 4 decimals; data-step = its step), #status, #attention[data-step], #predictions rows, #meta and #data-summary
// tables; window.gtLive.columns (the charts' data: step, loss, evalLoss, ...).
'use strict';

(() => {
  const gtUrl = window.gtUrl || ((url) => url);
  const $ = (id) => document.getElementById(id);
  const FINAL = new Set(['completed', 'failed', 'cancelled']);
  const GIB = 1024 ** 3;

  // ---------------------------------------------------------------------------------------------------------------
  // State: everything the events said, kept as columns for the charts.

  // One row per step that has a train or eval row; the charts share the step column (uPlot's x values).
  const cols = {
    step: [], loss: [], evalLoss: [], lr: [], gradNorm: [], tokensPerS: [], stepS: [],
    peakGiB: [], memGiB: [], rssGiB: [],
  };
  const state = {
    lastSeq: 0,
    lastStep: 0,
    meta: {},
    status: null,       // the newest status event
    lastTrain: null,    // the newest train row
    lastEval: null,
    probe: null,        // the newest probe event
    media: null,
    pace: [],           // [time ms, step] of the train events received live (newest 30), for the ETA
  };
  const dirty = { charts: false, header: false, probe: false, media: false, meta: false };

  // The row index of `step` in cols, inserting a row of nulls in step order when it is new.
  function rowOf(step) {
    const xs = cols.step;
    let i = xs.length;
    if (i === 0 || xs[i - 1] < step) {
      for (const k in cols) cols[k].push(k === 'step' ? step : null);
      return i;
    }
    let lo = 0, hi = xs.length;  // first index with xs[i] >= step
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < step) lo = mid + 1; else hi = mid;
    }
    if (xs[lo] === step) return lo;
    for (const k in cols) cols[k].splice(lo, 0, k === 'step' ? step : null);
    return lo;
  }

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const gib = (v) => (num(v) === null ? null : v / GIB);

  // Later meta events replace the fields they carry (objects merged key by key).
  function merge(into, from) {
    for (const [k, v] of Object.entries(from)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && into[k] && typeof into[k] === 'object' &&
          !Array.isArray(into[k])) merge(into[k], v);
      else into[k] = v;
    }
    return into;
  }

  // `live`: the event came from the stream just now (its arrival time measures the run's pace).
  function apply(ev, live = false) {
    if (!ev || typeof ev.seq !== 'number' || ev.seq <= state.lastSeq) return;  // seen (history, then reconnects)
    state.lastSeq = ev.seq;
    switch (ev.type) {
      case 'meta': {
        const m = Object.assign({}, ev);
        delete m.type;
        delete m.seq;
        merge(state.meta, m);
        dirty.meta = dirty.header = true;
        break;
      }
      case 'train': {
        if (typeof ev.step !== 'number') break;
        const i = rowOf(ev.step);
        cols.loss[i] = num(ev.loss);
        cols.lr[i] = num(ev.lr);
        cols.gradNorm[i] = num(ev.grad_norm);
        cols.tokensPerS[i] = num(ev.tokens_per_s);
        cols.stepS[i] = num(ev.step_s);
        cols.peakGiB[i] = gib(ev.peak_memory_bytes);
        cols.memGiB[i] = gib(ev.memory_bytes);
        cols.rssGiB[i] = gib(ev.host_rss_bytes);
        if (!state.lastTrain || ev.step >= state.lastTrain.step) state.lastTrain = ev;
        state.lastStep = Math.max(state.lastStep, ev.step);
        if (live) {
          // Events arriving together (the backlog when a stream opens) are one observation: the newest step.
          const now = performance.now(), pace = state.pace;
          if (pace.length && now - pace[pace.length - 1][0] < 20) pace[pace.length - 1][1] = ev.step;
          else pace.push([now, ev.step]);
          if (pace.length > 30) pace.shift();
        }
        dirty.charts = dirty.header = true;
        break;
      }
      case 'eval': {
        if (typeof ev.step !== 'number') break;
        cols.evalLoss[rowOf(ev.step)] = num(ev.eval_loss);
        if (!state.lastEval || ev.step >= state.lastEval.step) state.lastEval = ev;
        dirty.charts = dirty.header = true;
        break;
      }
      case 'probe':
        if (!state.probe || ev.step >= state.probe.step) state.probe = ev;
        dirty.probe = true;
        break;
      case 'media':
        state.media = ev;
        dirty.media = true;
        break;
      case 'status':
        state.status = ev;
        if (typeof ev.step === 'number') state.lastStep = Math.max(state.lastStep, ev.step);
        dirty.header = dirty.meta = true;
        break;
      default:
        break;  // a newer trainer's event type: nothing to draw
    }
    schedule();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Drawing, at most once a frame; a hidden tab draws when it is shown again.

  let scheduled = false;
  function schedule() {
    if (scheduled || document.hidden) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) schedule();
  });

  function render() {
    if (dirty.charts) renderCharts();
    if (dirty.header) renderHeader();
    if (dirty.probe) renderProbe();
    if (dirty.media) renderMedia();
    if (dirty.meta) renderMeta();
    for (const k in dirty) dirty[k] = false;
    document.body.dataset.lastSeq = String(state.lastSeq);
    document.body.dataset.lastStep = String(state.lastStep);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Header.

  // The run's length in steps: the trainer's meta says it; a run given --max-steps has it in its config as well.
  function totalSteps() {
    const run = state.meta.run || {}, config = state.meta.config || {};
    const total = Number(run.total_steps), max = Number(config.max_steps);
    if (total > 0) return total;
    return max > 0 ? max : null;
  }

  function runStatus() {
    if (state.status) return state.status.status;
    return (state.meta.run && state.meta.run.status) || 'running';
  }

  function duration(s) {
    if (!(s >= 0) || !Number.isFinite(s)) return '–';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
    if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
    return `${sec}s`;
  }

  // Remaining steps times the time a step takes: as watched (the arrival of the last live train events spanning at
  // least 2 s, so evaluation, probes and data loading count), else the mean step_s of the last 20 steps.
  function eta(total) {
    const remaining = Math.max(0, total - state.lastStep);
    const pace = state.pace;
    if (pace.length >= 3) {
      const [t0, s0] = pace[0], [t1, s1] = pace[pace.length - 1];
      if (t1 - t0 >= 2000 && s1 > s0) return (remaining * (t1 - t0)) / (s1 - s0) / 1000;
    }
    const times = [];
    for (let i = cols.stepS.length - 1; i >= 0 && times.length < 20; i--)
      if (cols.stepS[i] !== null) times.push(cols.stepS[i]);
    if (!times.length || !total) return null;
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    return remaining * mean;
  }

  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function renderHeader() {
    const run = state.meta.run || {};
    const status = runStatus();
    setText('run-name', run.name || 'gemma-tune');
    document.title = (run.name ? run.name + ' · ' : '') + 'gemma-tune live';
    setText('model', run.model || '–');
    setText('modality', run.modality || '–');
    setText('device', [run.device, run.dtype].filter(Boolean).join(' · ') || '–');
    const st = $('status');
    setText('status', status);
    st.dataset.status = status;
    const total = totalSteps();
    setText('step', total ? `${state.lastStep} / ${total}` : String(state.lastStep));
    setText('eta', FINAL.has(status) ? 'done' : (total ? duration(eta(total)) : '–'));
    const loss = state.lastTrain && num(state.lastTrain.loss);
    setText('last-loss', loss === null || loss === undefined ? '–' : loss.toFixed(4));
    if (state.lastTrain) $('last-loss').dataset.step = String(state.lastTrain.step);
    const evalLoss = state.lastEval && num(state.lastEval.eval_loss);
    setText('last-eval-loss', evalLoss === null || evalLoss === undefined ? '–' : evalLoss.toFixed(4));
    const err = $('error');
    const message = state.status && state.status.error;
    err.hidden = !message;
    if (message) err.textContent = `${status}: ${message}`;
    if (FINAL.has(status)) finish();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Charts.

  const css = (name) => getComputedStyle(document.body).getPropertyValue(name).trim();
  const charts = [];  // {el, plot, spec}

  const STEP_INCRS = [];
  for (let d = 1; d <= 1e9; d *= 10) STEP_INCRS.push(d, 2 * d, 5 * d);
  const expo = (u, vals) => vals.map((v) => (v === null ? '' : v === 0 ? '0' : v.toExponential(1)));
  const CHARTS = [
    { id: 'loss-chart', height: 260, columns: [
      { key: 'loss', label: 'train loss', color: '--c1' },
      { key: 'evalLoss', label: 'eval loss', color: '--c2', points: true },
    ] },
    { id: 'lr-chart', columns: [{ key: 'lr', label: 'lr', color: '--c3', fmt: (v) => v.toExponential(2) }],
      values: expo },
    { id: 'grad-chart', columns: [{ key: 'gradNorm', label: 'grad norm', color: '--c4' }] },
    { id: 'tokens-chart', columns: [{ key: 'tokensPerS', label: 'tokens/s', color: '--c5', digits: 0 }] },
    { id: 'step-time-chart', columns: [{ key: 'stepS', label: 'step s', color: '--c6', digits: 3 }] },
    { id: 'memory-chart', columns: [
      { key: 'peakGiB', label: 'device peak', color: '--c1', digits: 2 },
      { key: 'memGiB', label: 'device now', color: '--c3', digits: 2 },
      { key: 'rssGiB', label: 'host RSS', color: '--c2', digits: 2 },
    ] },
  ];

  function chartData(spec) {
    return [cols.step, ...spec.columns.map((c) => cols[c.key])];
  }

  function makeChart(spec) {
    const el = $(spec.id);
    const fg = css('--fg'), grid = css('--grid');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const series = [{ label: 'step', value: (u, v) => (v === null ? '–' : String(v)) }];
    for (const c of spec.columns) {
      const s = {
        label: c.label,
        stroke: css(c.color),
        width: 1.5,
        // Steps share one x column, so a step with only an eval row is a gap in the train series: draw across it.
        spanGaps: true,
        value: (u, v) => (v === null || v === undefined ? '–' :
          c.fmt ? c.fmt(v) : v.toFixed(c.digits === undefined ? 4 : c.digits)),
      };
      if (c.points) {
        s.points = { show: true, size: 7, fill: css(c.color) };
        s.dash = [4, 4];
        s.width = 1;
      } else {
        s.points = { show: false };
      }
      series.push(s);
    }
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: spec.height || 180,
      series,
      scales: { x: { time: false } },
      // Steps are whole numbers: ticks at whole steps only.
      axes: [
        Object.assign({ incrs: STEP_INCRS }, axis),
        Object.assign({ size: 60 }, axis, spec.values ? { values: spec.values } : {}),
      ],
      cursor: { sync: { key: 'steps' } },
      legend: { live: true },
    };
    const plot = new uPlot(opts, chartData(spec), el);
    charts.push({ el, plot, spec });
  }

  function makeCharts() {
    for (const c of charts) c.plot.destroy();
    charts.length = 0;
    for (const spec of CHARTS) makeChart(spec);
  }

  function renderCharts() {
    for (const c of charts) c.plot.setData(chartData(c.spec));
  }

  // Width follows the panel; the colours follow the light/dark scheme (the only time charts are rebuilt).
  const resize = new ResizeObserver(() => {
    for (const c of charts) {
      const w = Math.max(200, c.el.clientWidth);
      if (Math.abs(w - c.plot.width) > 1) c.plot.setSize({ width: w, height: c.plot.height });
    }
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => makeCharts());

  // ---------------------------------------------------------------------------------------------------------------
  // Probe: attention heatmap and next-token predictions.

  function base64Bytes(text) {
    const bin = atob(text || '');
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // Viridis sampled at 9 points (t = 0, 1/8, ..., 1), interpolated linearly: a perceptually even scale that reads in
  // light and dark themes and in grey.
  const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
    [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  const COLOURS = new Uint8Array(256 * 3);
  for (let b = 0; b < 256; b++) {
    const t = (b / 255) * 8, i = Math.min(7, Math.floor(t)), f = t - i;
    for (let ch = 0; ch < 3; ch++)
      COLOURS[b * 3 + ch] = Math.round(VIRIDIS[i][ch] * (1 - f) + VIRIDIS[i + 1][ch] * f);
  }

  // Writes bytes (one per cell, 0..255) as colours into an RGBA buffer.
  function colourise(bytes, rgba) {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i] * 3;
      rgba[i * 4] = COLOURS[c];
      rgba[i * 4 + 1] = COLOURS[c + 1];
      rgba[i * 4 + 2] = COLOURS[c + 2];
      rgba[i * 4 + 3] = 255;
    }
  }

  const ATTENTION_PX = 360;
  let attention = null;  // {n, bin, values, tokens} of the drawn probe, for hovering

  function renderProbe() {
    const p = state.probe;
    if (!p) return;
    const canvas = $('attention');
    const att = p.attention || {};
    const n = att.size | 0, bin = att.bin || 1;
    const values = base64Bytes(att.values);
    const where = `step ${p.step} · layer ${p.layer}${p.layers ? ' of ' + p.layers : ''}` +
      (p.source ? ` · ${p.source}` : '') + (bin > 1 ? ` · ${bin} positions a cell` : '') +
      (num(p.cost_s) !== null ? ` · probe ${(p.cost_s * 1000).toFixed(0)} ms` : '');
    setText('attention-label', `(${where})`);
    if (n > 0 && values.length === n * n) {
      const cell = Math.max(1, Math.floor(ATTENTION_PX / n));
      canvas.width = canvas.height = n * cell;
      const ctx = canvas.getContext('2d');
      const image = ctx.createImageData(n, n);
      colourise(values, image.data);
      // Drawn at one pixel a cell, then scaled up without smoothing: sharp cells.
      const small = document.createElement('canvas');
      small.width = small.height = n;
      small.getContext('2d').putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(small, 0, 0, n * cell, n * cell);
      canvas.hidden = false;
      attention = { n, bin, values, tokens: p.tokens || [], cell };
    }
    canvas.dataset.step = String(p.step);
    canvas.dataset.layer = String(p.layer);
    renderPredictions(p);
  }

  // Whitespace made visible, so " the" and "the" and a newline read differently.
  function showToken(t) {
    const text = String(t === undefined || t === null ? '' : t);
    return text.replace(/ /g, '␣').replace(/\n/g, '⏎').replace(/\t/g, '⇥');
  }

  $('attention').addEventListener('mousemove', (e) => {
    if (!attention) return;
    const r = e.target.getBoundingClientRect();
    const scale = e.target.width / r.width;
    const k = Math.floor(((e.clientX - r.left) * scale) / attention.cell);
    const q = Math.floor(((e.clientY - r.top) * scale) / attention.cell);
    if (q < 0 || k < 0 || q >= attention.n || k >= attention.n) return;
    const byte = attention.values[q * attention.n + k];
    const p = (byte / 255) ** 2;
    const pos = (i) => attention.bin === 1 ? `${i} ${showToken(attention.tokens[i])}` :
      `${i * attention.bin}–${(i + 1) * attention.bin - 1}`;
    $('attention-hover').textContent = `query ${pos(q)}  →  key ${pos(k)}   p ≈ ${p.toFixed(3)}`;
  });
  $('attention').addEventListener('mouseleave', () => { $('attention-hover').innerHTML = '&nbsp;'; });

  function renderPredictions(p) {
    const table = $('predictions');
    const preds = p.predictions || [];
    setText('predictions-label', `(step ${p.step})`);
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const h of ['pos', 'target', 'top 5 (probability)']) {
      const th = document.createElement('th');
      th.textContent = h;
      head.appendChild(th);
    }
    head.lastChild.colSpan = 5;
    const body = table.createTBody();
    for (const pred of preds) {
      const row = body.insertRow();
      const top = pred.top || [];
      const hit = top.length > 0 && top[0].token === pred.target;
      row.className = hit ? 'hit' : '';
      row.dataset.position = String(pred.position);
      row.insertCell().textContent = String(pred.position);
      const target = row.insertCell();
      target.className = 'token';
      target.textContent = showToken(pred.target);
      for (let i = 0; i < 5; i++) {
        const cell = row.insertCell();
        cell.className = 'choice';
        const t = top[i];
        if (!t) continue;
        const name = document.createElement('span');
        name.className = 'token' + (t.token === pred.target ? ' target' : '');
        name.textContent = showToken(t.token);
        name.title = `id ${t.id}`;
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${Math.max(0, Math.min(1, num(t.p) || 0)) * 100}%`;
        const prob = document.createElement('span');
        prob.className = 'p';
        prob.textContent = (num(t.p) || 0).toFixed(3);
        cell.append(name, bar, prob);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Media: the probe row's image (RGB or grey) or audio spectrogram (grey bytes through the colour map).

  function renderMedia() {
    const m = state.media;
    if (!m) return;
    const w = m.width | 0, h = m.height | 0, ch = m.channels | 0;
    const bytes = base64Bytes(m.pixels);
    if (!w || !h || (ch !== 1 && ch !== 3) || bytes.length !== w * h * ch) return;
    const canvas = $('media');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(w, h);
    const out = image.data;
    if (m.kind === 'spectrogram' && ch === 1) {
      colourise(bytes, out);
    } else {
      for (let i = 0, j = 0; i < w * h; i++, j += ch) {
        out[i * 4] = bytes[j];
        out[i * 4 + 1] = bytes[ch === 3 ? j + 1 : j];
        out[i * 4 + 2] = bytes[ch === 3 ? j + 2 : j];
        out[i * 4 + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    canvas.className = m.kind === 'spectrogram' ? 'spectrogram' : 'image';
    setText('media-kind', m.kind === 'spectrogram' ? 'audio (log-mel spectrogram)' : 'image');
    setText('media-label', `(${w}×${h}${m.kind === 'spectrogram' ? ' frames × mel bands' : ''})`);
    $('media-panel').hidden = false;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Run metadata and the data summary.

  function cellText(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function kvRows(table, rows) {
    table.replaceChildren();
    const body = table.createTBody();
    for (const [k, v, cls] of rows) {
      const row = body.insertRow();
      if (cls) row.className = cls;
      const th = document.createElement('th');
      th.textContent = k;
      row.appendChild(th);
      for (const x of Array.isArray(v) ? v : [v]) row.insertCell().textContent = cellText(x);
    }
  }

  function renderMeta() {
    const rows = [];
    const run = state.meta.run || {};
    for (const [k, v] of Object.entries(run)) rows.push([k, k === 'status' ? runStatus() : v]);
    kvRows($('meta'), rows);
    // The resolved configuration is long (every key): folded away until asked for.
    const config = state.meta.config || {};
    const keys = Object.keys(config).sort();
    kvRows($('config'), keys.map((k) => [k, config[k]]));
    setText('config-count', keys.length ? `(${keys.length} keys)` : '');

    const data = state.meta.data || {};
    const splits = Object.keys(data).sort((a, b) => (a === 'train' ? -1 : b === 'train' ? 1 : a.localeCompare(b)));
    const table = $('data-summary');
    if (!splits.length) {
      kvRows(table, []);
      return;
    }
    const reasons = new Set();
    for (const s of splits) for (const r of Object.keys((data[s] || {}).skipped || {})) reasons.add(r);
    const get = (s, k) => (data[s] || {})[k];
    const drows = [['', splits, 'section']];
    for (const k of ['rows', 'examples', 'supervised_tokens']) {
      const values = splits.map((s) => get(s, k));
      if (values.some((v) => v !== undefined && v !== null)) drows.push([k.replace('_', ' '), values]);
    }
    for (const r of [...reasons].sort())
      drows.push([`skipped: ${r}`, splits.map((s) => ((data[s] || {}).skipped || {})[r] || 0), 'skipped']);
    kvRows(table, drows);
    for (const s of splits) {
      const text = get(s, 'text');
      if (!text) continue;
      const row = table.tBodies[0].insertRow();
      row.className = 'note';
      const cell = row.insertCell();
      cell.colSpan = splits.length + 1;
      cell.textContent = `${s}: ${text}`;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Connection: history first, then the stream from the last event seen.

  let source = null;
  function setConnection(state, text) {
    const el = $('connection');
    el.dataset.state = state;
    el.textContent = text || state;
    document.body.dataset.connection = state;
  }

  // A finished run sends nothing more: stop listening (the server may be gone, and EventSource would retry forever).
  function finish() {
    if (source) {
      source.close();
      source = null;
    }
    setConnection('finished');
  }

  function follow() {
    if (FINAL.has(runStatus())) return finish();
    source = new EventSource(gtUrl('events?after=' + state.lastSeq));
    source.onopen = () => setConnection('live');
    source.onmessage = (e) => {
      let ev;
      try {
        ev = JSON.parse(e.data);
      } catch (err) {
        return;  // not an event (a keep-alive or a torn line): skip
      }
      apply(ev, /*live=*/true);
      if (source && source.readyState === EventSource.OPEN) setConnection('live');
    };
    source.onerror = () => {
      if (!source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error): start again from what was applied.
        source = null;
        setConnection('reconnecting');
        setTimeout(follow, 2000);
      } else {
        setConnection('reconnecting');
      }
    };
  }

  async function start() {
    try {
      const reply = await fetch(gtUrl('history.json'), { cache: 'no-store' });
      if (!reply.ok) throw new Error(`history.json: HTTP ${reply.status}`);
      const events = await reply.json();
      events.sort((a, b) => a.seq - b.seq);
      for (const ev of events) apply(ev);
    } catch (err) {
      setConnection('reconnecting', `reconnecting (${err.message})`);
      setTimeout(start, 2000);
      return;
    }
    render();
    follow();
  }

  // Read-only view for tests and the browser console: what the charts were given, step by step.
  window.gtLive = { columns: cols, state };

  // The style sheets (inserted by index.html's script) give the charts their colours and widths: wait for them.
  function init() {
    makeCharts();
    for (const c of charts) resize.observe(c.el);
    setConnection('connecting');
    start();
  }
  if (document.readyState === 'complete') init();
  else window.addEventListener('load', init, { once: true });
})();
