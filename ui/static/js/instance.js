// The page of one instance: header and actions, details (times, duration,
// parent, children, runs of the continue-as-new chain), what it waits on,
// input/output/custom status/failure, the execution diagram and the
// history timeline. The current run is followed live with the progress
// long poll.

import {h, clear, keepFocus} from './dom.js';
import {api, ApiError, instancePath} from './api.js';
import {fmtTime, isoTitle, fmtDuration, between, statusLabel, isFinished, pretty, isNull, num, shortID} from './format.js';
import {HistoryStore} from './history.js';
import {Timeline, FILTERS, filterLabel, failureBlock} from './timeline.js';
import {buildModel, childrenOf} from './model.js';
import {renderDiagram, legend, describeNode} from './diagram.js';
import {waitingPanel} from './waiting.js';
import {raiseDialog, terminateDialog, suspendDialog, purgeDialog, startDialog} from './dialogs.js';

const WAIT = '25s';

export function badge(status) {
  return h('span', {class: ['badge', `st-${status}`]}, statusLabel(status));
}

function section(title, id, ...body) {
  return h('section', {class: 'panel', 'aria-labelledby': id}, h('h2', {id}, title), ...body);
}

export function mountInstance(main, ctx, id, runParam) {
  const abort = new AbortController();
  let closed = false;
  let inst = null;
  let progress = null;
  let store = null;
  let timeline = null;
  let runs = null;
  let model = null;
  let diagramTimer = 0;
  let lastDiagramAt = 0;
  let tick = 0;
  let following = false;

  ctx.setTitle(id);
  const heading = h('h1', {class: 'inst-id'}, id);
  const statusSlot = h('span', {class: 'inst-status'});
  const subline = h('p', {class: 'inst-sub'});
  const actions = h('div', {class: 'actions', role: 'group', 'aria-label': 'Actions'});
  const alerts = h('div', {class: 'alerts'});
  const details = h('dl', {class: 'kv details'});
  const waitingBody = h('div', {'aria-live': 'polite'});
  const payloads = h('div', {class: 'payloads'});
  const waitingSection = section('What it waits on now', 'sec-waiting', waitingBody);
  waitingSection.classList.add('waiting-panel');
  const diagramBody = h('div', {class: 'diagram-wrap'}, h('p', {class: 'muted'}, 'Loading history…'));
  const selection = h('p', {class: 'selection', 'aria-live': 'polite'});
  const filterSel = h('select', {id: 'tl-filter', disabled: true}, Object.keys(FILTERS).map((k) => h('option', {value: k}, filterLabel(k))));
  const historyInfo = h('span', {class: 'muted'});
  const timelineSlot = h('div', {class: 'timeline-slot'});

  main.append(
    h('nav', {'aria-label': 'Breadcrumb', class: 'crumbs'}, h('ol', {}, h('li', {}, h('a', {href: '/'}, 'Instances')), h('li', {'aria-current': 'page'}, id))),
    h('header', {class: 'inst-head'}, h('div', {class: 'inst-title'}, heading, statusSlot), subline, actions),
    alerts,
    h('div', {class: 'top'},
      section('Details', 'sec-details', details),
      h('div', {class: 'top-right'}, waitingSection, payloads)),
    h('div', {class: 'exec'},
      section('Execution diagram', 'sec-diagram', h('p', {class: 'hint'}, 'Steps in order, top to bottom; steps that ran at the same time side by side. Choose a step to see its events.'),
        legend(), selection, diagramBody),
      section('History', 'sec-history',
        h('div', {class: 'tl-tools'}, h('label', {for: 'tl-filter'}, 'Show'), filterSel, historyInfo),
        timelineSlot)));

  filterSel.addEventListener('change', () => {
    if (!timeline) return;
    const f = FILTERS[filterSel.value];
    timeline.setFilter(filterSel.value === 'all' ? null : f.test);
    historyInfo.textContent = timeline.filter ? `${num(timeline.filter.length)} of ${num(store.length)} events` : `${num(store.length)} events`;
  });

  const current = () => !runParam;

  // ---- data ----

  async function load() {
    try {
      if (current()) {
        apply(await api.progress(id, '', '', abort.signal));
        follow();
      } else {
        const one = await api.get(id, runParam, abort.signal);
        apply({instance: one, pending: [], bufferedEvents: [], historyLength: null});
      }
    } catch (err) {
      if (err.name === 'AbortError') return;
      showLoadError(err);
    }
  }

  // follow long-polls the progress document until the instance finishes;
  // one loop at a time.
  async function follow() {
    if (following) return;
    following = true;
    try {
      while (!closed && !isFinished(inst.status)) {
        try {
          apply(await api.progress(id, progress && progress.version, WAIT, abort.signal));
        } catch (err) {
          if (err.name === 'AbortError' || closed) return;
          if (err instanceof ApiError && err.status === 404) {
            showLoadError(err);
            return;
          }
          await new Promise((r) => setTimeout(r, 3000));
        }
      }
    } finally {
      following = false;
    }
  }

  // refresh reads the progress now (after an action), and follows the
  // instance again if it runs (a new run after "Run again").
  async function refresh() {
    if (!current()) return;
    try {
      apply(await api.progress(id, '', '', abort.signal));
      if (!isFinished(inst.status)) follow();
    } catch (err) {
      if (err.name !== 'AbortError') ctx.notify(err, 'error');
    }
  }

  // stale tells an answer that is older than the one shown (a refresh and
  // the long poll can answer out of order).
  function stale(p) {
    if (!progress || !progress.instance || p.instance.runId !== progress.instance.runId) return false;
    if (p.historyLength === null || p.historyLength === undefined) return false;
    return p.historyLength < progress.historyLength ||
      (isFinished(progress.instance.status) && !isFinished(p.instance.status));
  }

  function showLoadError(err) {
    clear(alerts, h('div', {class: 'alert alert-error', role: 'alert'},
      err instanceof ApiError && err.status === 404 ? `No instance ${id}${runParam ? ` with run ${runParam}` : ''}: it may have been purged. ` : `Could not load ${id}: ${err.message} `,
      h('a', {href: '/'}, 'Back to the instances')));
    diagramBody.replaceChildren();
  }

  function apply(p) {
    if (stale(p)) return;
    const prevRun = inst && inst.runId;
    inst = p.instance;
    progress = p;
    renderHeader();
    renderDetails();
    renderWaiting();
    renderPayloads();
    if (!store || prevRun !== inst.runId) startHistory();
    if (p.historyLength !== null && p.historyLength !== undefined) store.setLength(p.historyLength);
    historyInfo.textContent = `${num(store.length)} events`;
    if ((inst.previousRunId || !inst.current) && !runs) loadRuns();
    scheduleDiagram();
  }

  function startHistory() {
    if (store) store.close();
    if (timeline) timeline.destroy();
    store = new HistoryStore(id, inst.runId);
    timeline = new Timeline(store, {startTime: inst.createdAt});
    timeline.onFilterReset = () => {
      filterSel.value = 'all';
    };
    timelineSlot.replaceChildren(timeline.el);
    filterSel.disabled = true;
    if (!current()) {
      api.history(id, inst.runId, 0, undefined, abort.signal).then((res) => {
        store.setLength(res.events.length);
        for (let k = 0; k * 1000 < res.events.length; k++) store.pages.set(k, res.events.slice(k * 1000, (k + 1) * 1000));
        store.emit();
        historyInfo.textContent = `${num(store.length)} events`;
        scheduleDiagram();
      }, (err) => err.name !== 'AbortError' && ctx.notify(err, 'error'));
    }
    timeline.render();
  }

  async function loadRuns() {
    runs = [];
    try {
      const res = await api.runs(id, abort.signal);
      runs = res.instances || [];
      renderDetails();
    } catch {
      runs = [];
    }
  }

  // ---- diagram ----

  function scheduleDiagram() {
    if (diagramTimer) return;
    const wait = Math.max(0, 800 - (Date.now() - lastDiagramAt));
    diagramTimer = setTimeout(buildDiagram, wait);
  }

  async function buildDiagram() {
    diagramTimer = 0;
    if (closed || !store || !store.length) return;
    const s = store;
    if (!s.complete()) {
      clear(diagramBody, h('p', {class: 'muted'}, `Loading history: ${num(s.loadedCount())} of ${num(s.length)} events…`));
      const update = s.onChange(() => {
        if (!s.complete()) diagramBody.firstChild.textContent = `Loading history: ${num(s.loadedCount())} of ${num(s.length)} events…`;
      });
      try {
        await s.loadAll();
      } catch (err) {
        if (err.name !== 'AbortError') clear(diagramBody, h('p', {class: 'alert alert-error'}, `Could not load the history: ${err.message}`));
        return;
      } finally {
        update();
      }
      if (closed || s !== store) return;
    }
    lastDiagramAt = Date.now();
    const t0 = performance.now();
    model = buildModel(s.all(), {pending: (progress && progress.pending) || [], status: inst.status, previousRunId: inst.previousRunId});
    const svg = renderDiagram(model, onSelectNode);
    clear(diagramBody, svg);
    diagramBody.dataset.steps = String(model.steps.length);
    diagramBody.dataset.ms = String(Math.round(performance.now() - t0));
    filterSel.disabled = false;
    for (const o of filterSel.options) {
      const n = o.value === 'all' ? s.length : s.all().filter(FILTERS[o.value].test).length;
      o.textContent = filterLabel(o.value, n);
    }
    renderDetails();
  }

  function onSelectNode(node, g) {
    for (const el of diagramBody.querySelectorAll('.node.selected')) el.classList.remove('selected');
    g.classList.add('selected');
    selection.textContent = `Selected: ${describeNode(node)}. Its events are highlighted in the history.`;
    // A failed step opens at its failure; others at their start (input).
    timeline.select(node.events, node.outcome === 'failed' ? node.events[node.events.length - 1] : node.events[0]);
    const r = timeline.el.getBoundingClientRect();
    if (r.top > window.innerHeight || r.bottom < 0) timeline.el.scrollIntoView({block: 'start', behavior: 'instant'});
  }

  // ---- rendering ----

  function renderHeader() {
    clear(statusSlot, badge(inst.status));
    clear(subline, 'Workflow ', h('strong', {}, inst.workflowName), ' · run ', h('code', {}, inst.runId),
      inst.current ? '' : ' (an earlier run)');
    renderActions();
    const notes = [];
    if (inst.taskError) {
      notes.push(h('div', {class: 'alert alert-error', role: 'alert'}, h('strong', {}, 'The workflow cannot make progress: '),
        h('pre', {class: 'stack'}, inst.taskError), 'The engine retries until the code is fixed (non-determinism shows the recorded and requested steps).'));
    }
    if (!inst.current) {
      notes.push(h('p', {class: 'alert alert-info'}, 'This is an earlier run of ', h('code', {}, id), '. ',
        h('a', {href: instancePath(id)}, 'Go to the current run'), '.'));
    }
    clear(alerts, notes);
  }

  function button(label, onClick, {danger = false, disabled = false} = {}) {
    return h('button', {type: 'button', class: ['btn', danger && 'btn-danger-outline'], disabled, onClick}, label);
  }

  function renderActions() {
    const st = inst.status;
    const done = isFinished(st);
    const focused = actions.contains(document.activeElement) ? document.activeElement.textContent : null;
    const list = [];
    if (inst.current) {
      list.push(button('Raise event…', () => openRaise(awaitedEvent()), {disabled: done}));
      if (st === 'SUSPENDED') list.push(button('Resume', doResume));
      else list.push(button('Suspend…', doSuspend, {disabled: done}));
      list.push(button('Terminate…', doTerminate, {danger: true, disabled: done}));
      list.push(button('Purge…', doPurge, {danger: true, disabled: !done}));
    }
    list.push(button('Run again…', doRunAgain));
    // Unchanged buttons stay (a click in progress is not lost).
    const sig = list.map((b) => `${b.textContent}:${b.disabled}`).join('|');
    if (actions.dataset.sig === sig) return;
    actions.dataset.sig = sig;
    clear(actions, list);
    if (focused) {
      const b = [...actions.querySelectorAll('button')].find((x) => x.textContent === focused && !x.disabled);
      if (b) b.focus();
    }
  }

  function awaitedEvent() {
    const p = ((progress && progress.pending) || []).find((x) => x.kind === 'event');
    if (p) return p.name;
    const w = (inst.waiting || []).find((x) => x.kind === 'event');
    return w ? w.name : '';
  }

  function kv(k, ...v) {
    return [h('dt', {}, k), h('dd', {}, ...v)];
  }

  function time(t) {
    return t ? h('time', {datetime: t, title: isoTitle(t)}, fmtTime(t, {ms: true})) : '—';
  }

  function renderDetails() {
    if (!inst) return;
    const done = isFinished(inst.status);
    const rows = [
      ...kv('Workflow', inst.workflowName),
      ...kv('Status', badge(inst.status)),
      ...kv('Instance ID', h('code', {}, inst.instanceId)),
      ...kv('Run ID', h('code', {}, inst.runId)),
      ...kv('Created', time(inst.createdAt)),
      ...kv('Updated', time(inst.updatedAt)),
      ...kv('Finished', done ? time(inst.completedAt) : 'not yet'),
      ...kv('Duration', done ? fmtDuration(between(inst.createdAt, inst.completedAt)) : `${fmtDuration(between(inst.createdAt))} so far`),
    ];
    if (inst.parentInstanceId) rows.push(...kv('Parent', h('a', {href: instancePath(inst.parentInstanceId)}, inst.parentInstanceId)));
    if (inst.previousRunId) rows.push(...kv('Previous run', h('a', {href: instancePath(id, inst.previousRunId)}, h('code', {}, inst.previousRunId)), ' (continued as new)'));
    if (inst.status === 'CONTINUED_AS_NEW') rows.push(...kv('Next run', h('a', {href: instancePath(id)}, 'the current run')));
    if (runs && runs.length > 1) {
      rows.push(...kv('Runs', h('ol', {class: 'runs', reversed: true}, runs.map((r) => h('li', {},
        r.runId === inst.runId ? h('strong', {'aria-current': 'true'}, 'this run') : h('a', {href: instancePath(id, r.current ? '' : r.runId)}, h('code', {title: r.runId}, shortID(r.runId))),
        ' ', badge(r.status), ' ', h('span', {class: 'muted'}, fmtTime(r.createdAt)))))));
    }
    if (model) {
      const kids = childrenOf(model.steps);
      if (kids.length) {
        rows.push(...kv('Children', h('ul', {class: 'children'}, kids.slice(0, 20).map((c) => h('li', {},
          h('a', {href: instancePath(c.instanceId)}, c.instanceId), ` ${c.name} · ${c.outcome}`)),
        kids.length > 20 ? h('li', {class: 'muted'}, `… ${kids.length - 20} more (see the history)`) : null)));
      }
    }
    if (store) rows.push(...kv('History', `${num(store.length)} events`));
    clear(details, rows);
  }

  function renderWaiting() {
    waitingSection.hidden = isFinished(inst.status);
    const parts = waitingPanel(inst, progress, (name) => openRaise(name));
    const box = h('div', {}, parts);
    if (box.innerHTML === waitingBody.innerHTML) return; // nothing changed: keep the elements
    keepFocus(waitingBody, () => clear(waitingBody, parts));
  }

  function payload(title, v, extra) {
    return h('section', {class: 'panel payload', 'aria-label': title}, h('h2', {}, title), extra || null,
      h('pre', {class: 'json', tabindex: '0'}, pretty(v)));
  }

  function renderPayloads() {
    const parts = [payload('Input', inst.input)];
    if (inst.status === 'COMPLETED' || !isNull(inst.output)) parts.push(payload('Output', inst.output));
    if (!isNull(inst.customStatus)) parts.push(payload('Custom status', inst.customStatus));
    if (inst.failure) parts.push(h('section', {class: 'panel payload failure-panel', 'aria-label': 'Failure'}, h('h2', {}, 'Failure'), failureBlock(inst.failure, null)));
    clear(payloads, parts);
  }

  // ---- actions ----

  async function openRaise(name) {
    const ev = await raiseDialog(id, {name});
    if (ev) {
      ctx.notify(`Event ${ev} raised on ${id}.`, 'success');
      refresh();
    }
  }

  async function doSuspend() {
    if (await suspendDialog(id)) {
      ctx.notify(`Suspend requested for ${id}.`, 'success');
      refresh();
    }
  }

  async function doResume() {
    try {
      await api.resume(id);
      ctx.notify(`Resume requested for ${id}.`, 'success');
      refresh();
    } catch (err) {
      ctx.notify(err, 'error');
    }
  }

  async function doTerminate() {
    if (await terminateDialog(id)) {
      ctx.notify(`Terminate requested for ${id}.`, 'success');
      refresh();
    }
  }

  async function doPurge() {
    if (await purgeDialog(id)) {
      ctx.notify(`Purged ${id}.`, 'success');
      ctx.navigate('/');
    }
  }

  async function doRunAgain() {
    const res = await startDialog({name: inst.workflowName, id: inst.instanceId, input: isNull(inst.input) ? '' : pretty(inst.input)});
    if (res && res.instanceId) {
      ctx.notify(`Started ${res.instanceId}.`, 'success');
      if (res.instanceId === id && current()) refresh();
      else ctx.navigate(instancePath(res.instanceId));
    }
  }

  // Relative times ("in 5 min") and "so far" durations stay current.
  tick = setInterval(() => {
    if (inst && !isFinished(inst.status) && !document.hidden) {
      renderWaiting();
      renderDetails();
    }
  }, 5000);

  load();

  return () => {
    closed = true;
    abort.abort();
    clearInterval(tick);
    clearTimeout(diagramTimer);
    if (store) store.close();
    if (timeline) timeline.destroy();
  };
}
