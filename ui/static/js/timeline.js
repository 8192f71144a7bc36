// The history timeline: one row per event (time, type, summary), each
// expandable to its fields, attempts and pretty-printed payloads. Only the
// rows in view are in the DOM (plus a margin), and only their pages are
// fetched, so that a history of 20,000 events scrolls as fast as one of 20.

import {h, clear} from './dom.js';
import {fmtTime, isoTitle, fmtDuration, pretty, preview, failureText, relative, num} from './format.js';
import {instancePath} from './api.js';

export const ROW = 36; // collapsed row height, px (kept in sync with .tl td height)
const OVERSCAN = 12;

const TYPE_CLASS = {
  ExecutionStarted: 'ev-exec', ExecutionCompleted: 'ev-exec', ContinueAsNew: 'ev-exec',
  ExecutionTerminated: 'ev-ctl', ExecutionSuspended: 'ev-ctl', ExecutionResumed: 'ev-ctl',
  TaskScheduled: 'ev-task', TaskCompleted: 'ev-ok', TaskFailed: 'ev-fail',
  TimerCreated: 'ev-timer', TimerFired: 'ev-timer', EventRaised: 'ev-event', EventSent: 'ev-event',
  SubOrchestrationInstanceCreated: 'ev-child', SubOrchestrationInstanceCompleted: 'ev-ok', SubOrchestrationInstanceFailed: 'ev-fail',
  SideEffect: 'ev-task', VersionMarker: 'ev-ctl',
};

export const FILTERS = {
  all: {label: 'All events', test: () => true},
  activities: {label: 'Activities', test: (e) => e.type.startsWith('Task')},
  failures: {label: 'Failures and retries', test: (e) => e.type.endsWith('Failed') || !!e.failure || (e.attempts && e.attempts.length > 1) || (e.type === 'ExecutionCompleted' && e.status !== 'COMPLETED')},
  timers: {label: 'Timers and events', test: (e) => e.type.startsWith('Timer') || e.type.startsWith('Event')},
  children: {label: 'Child workflows', test: (e) => e.type.startsWith('SubOrchestration')},
};

// summary is the one-line description of an event.
export function summary(e) {
  const step = e.seq ? ` (step ${e.seq})` : '';
  const att = e.attempts && e.attempts.length > 1 ? ` after ${e.attempts.length} attempts` : '';
  switch (e.type) {
    case 'ExecutionStarted':
      return `Started ${e.name}${e.parentInstanceId ? ` as a child of ${e.parentInstanceId}` : ''} · input ${preview(e.input, 60)}`;
    case 'ExecutionCompleted':
      return e.status === 'COMPLETED' ? `Completed · output ${preview(e.result, 70)}` : `${e.status}: ${failureText(e.failure) || e.reason || ''}`;
    case 'ExecutionTerminated':
      return `Terminate requested${e.reason ? `: ${e.reason}` : ''}`;
    case 'ExecutionSuspended':
      return `Suspended${e.reason ? `: ${e.reason}` : ''}`;
    case 'ExecutionResumed':
      return `Resumed${e.reason ? `: ${e.reason}` : ''}`;
    case 'ContinueAsNew':
      return `Continued as new · input ${preview(e.input, 60)}`;
    case 'TaskScheduled':
      return `Scheduled ${e.name}${step}${e.options && e.options.compensation ? ' · compensation' : ''}`;
    case 'TaskCompleted':
      return `${e.name} completed${step}${att} · ${preview(e.result, 60)}`;
    case 'TaskFailed':
      return `${e.name} failed${step}${att}: ${failureText(e.failure)}`;
    case 'TimerCreated':
      if (e.purpose && e.purpose.startsWith('event:')) return `Waiting for event ${e.purpose.slice(6)}${step}, times out ${fmtTime(e.fireAt)}`;
      return `Timer${step} set to fire ${fmtTime(e.fireAt)}`;
    case 'TimerFired':
      return `Timer fired${step}`;
    case 'EventRaised':
      return `Event ${e.name} received · ${preview(e.input, 60)}`;
    case 'EventSent':
      return `Sent event ${e.name} to ${e.instanceId}${step}`;
    case 'SubOrchestrationInstanceCreated':
      return `Started child ${e.name} as ${e.instanceId}${step}`;
    case 'SubOrchestrationInstanceCompleted':
      return `Child completed${step} · ${preview(e.result, 60)}`;
    case 'SubOrchestrationInstanceFailed':
      return `Child failed${step}: ${failureText(e.failure)}`;
    case 'SideEffect':
      return `Side effect ${e.name || ''}${step} · ${e.failure ? failureText(e.failure) : preview(e.result, 60)}`;
    case 'VersionMarker':
      return `Version of ${e.changeId}: ${e.version}`;
    default:
      return e.name || '';
  }
}

function payloadBlock(title, v) {
  return h('div', {class: 'kv-block'}, h('h4', {}, title), h('pre', {class: 'json', tabindex: '0'}, pretty(v)));
}

// failureBlock shows message, type, stack and the chain of causes.
export function failureBlock(f, title = 'Failure') {
  const rows = [];
  for (let c = f, depth = 0; c && depth < 8; c = c.cause, depth++) {
    rows.push(h('div', {class: 'failure'},
      h('p', {class: 'failure-msg'}, depth ? 'Caused by: ' : '', h('strong', {}, c.message || '(no message)'),
        c.type ? h('span', {class: 'tag'}, c.type) : null, c.nonRetryable ? h('span', {class: 'tag'}, 'non-retryable') : null),
      c.activityName ? h('p', {}, `Activity ${c.activityName}${c.attempts ? `, ${c.attempts} attempt${c.attempts === 1 ? '' : 's'}` : ''}`) : null,
      c.workflowName ? h('p', {}, `Workflow ${c.workflowName}${c.instanceId ? ` (${c.instanceId})` : ''}`) : null,
      c.timeoutType ? h('p', {}, `Timeout: ${c.timeoutType}`) : null,
      c.details !== undefined ? h('pre', {class: 'json'}, pretty(c.details)) : null,
      c.stack ? h('details', {}, h('summary', {}, 'Stack trace'), h('pre', {class: 'stack', tabindex: '0'}, c.stack)) : null));
  }
  return h('div', {class: 'kv-block'}, title ? h('h4', {}, title) : null, rows);
}

// attemptsTable lists every attempt of an activity: times, error, retry.
export function attemptsTable(attempts) {
  return h('table', {class: 'attempts'},
    h('caption', {}, `${attempts.length} attempt${attempts.length === 1 ? '' : 's'}`),
    h('thead', {}, h('tr', {}, ['Attempt', 'Started', 'Duration', 'Outcome', 'Next retry'].map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, attempts.map((a) => h('tr', {class: a.failure ? 'att-failed' : 'att-ok'},
      h('td', {}, String(a.attempt)),
      h('td', {title: isoTitle(a.startedAt)}, fmtTime(a.startedAt, {ms: true, date: false})),
      h('td', {}, fmtDuration(new Date(a.endedAt) - new Date(a.startedAt))),
      h('td', {}, a.failure ? h('span', {class: 'err'}, `Failed: ${failureText(a.failure)}`) : 'Succeeded'),
      h('td', {title: isoTitle(a.nextRetryAt)}, a.nextRetryAt ? fmtTime(a.nextRetryAt, {ms: true, date: false}) : '—')))));
}

const ns = (v) => fmtDuration(v / 1e6);

// optionsSummary says an activity's retry policy and timeouts in words.
export function optionsSummary(o) {
  const parts = [];
  if (o.compensation) parts.push('Compensation step of a saga.');
  if (o.maximumAttempts === 1) parts.push('No retry.');
  else {
    let r = o.maximumAttempts ? `Up to ${o.maximumAttempts} attempts` : 'Retried until it succeeds';
    if (o.initialInterval) r += `, first retry after ${ns(o.initialInterval)}`;
    if (o.backoffCoefficient && o.backoffCoefficient !== 1) r += `, each wait ×${o.backoffCoefficient}`;
    if (o.maximumInterval) r += ` (at most ${ns(o.maximumInterval)})`;
    parts.push(`${r}.`);
  }
  if (o.nonRetryableErrorTypes && o.nonRetryableErrorTypes.length) parts.push(`Not retried on ${o.nonRetryableErrorTypes.join(', ')}.`);
  const t = [];
  if (o.startToCloseTimeout) t.push(`${ns(o.startToCloseTimeout)} per attempt`);
  if (o.scheduleToCloseTimeout) t.push(`${ns(o.scheduleToCloseTimeout)} in all`);
  if (o.heartbeatTimeout) t.push(`heartbeat every ${ns(o.heartbeatTimeout)}`);
  if (t.length) parts.push(`Timeouts: ${t.join(', ')}.`);
  return parts.join(' ');
}

function details(e) {
  const meta = [];
  const kv = (k, v) => v !== undefined && v !== '' && v !== null && meta.push(h('dt', {}, k), h('dd', {}, v));
  kv('Time', `${fmtTime(e.time, {ms: true})} (${e.time})`);
  kv('Step', e.seq ? String(e.seq) : undefined);
  kv('Name', e.name);
  if (e.instanceId && e.type !== 'ExecutionStarted') kv('Instance', h('a', {href: instancePath(e.instanceId)}, e.instanceId));
  kv('Fires at', e.fireAt ? `${fmtTime(e.fireAt, {ms: true})} (${relative(e.fireAt)})` : undefined);
  kv('Purpose', e.purpose);
  kv('Source', e.source);
  kv('Task queue', e.taskQueue);
  kv('Reason', e.reason);
  kv('Status', e.status);
  if (e.parentInstanceId) kv('Parent', h('a', {href: instancePath(e.parentInstanceId)}, e.parentInstanceId));
  const blocks = [meta.length ? h('dl', {class: 'kv'}, meta) : null];
  if (e.input !== undefined) blocks.push(payloadBlock(e.type === 'EventRaised' || e.type === 'EventSent' ? 'Data' : 'Input', e.input));
  if (e.result !== undefined) blocks.push(payloadBlock(e.type === 'ExecutionCompleted' ? 'Output' : 'Result', e.result));
  if (e.failure) blocks.push(failureBlock(e.failure));
  if (e.attempts && e.attempts.length) blocks.push(h('div', {class: 'kv-block'}, h('h4', {}, 'Attempts'), attemptsTable(e.attempts)));
  if (e.options) blocks.push(h('div', {class: 'kv-block'}, h('h4', {}, 'Options'), h('p', {class: 'opts'}, optionsSummary(e.options)),
    h('details', {}, h('summary', {}, 'As recorded'), h('pre', {class: 'json'}, pretty(e.options)))));
  blocks.push(h('details', {class: 'raw'}, h('summary', {}, 'Event JSON'), h('pre', {class: 'json'}, pretty(e))));
  return h('div', {class: 'ev-details'}, blocks);
}

// Timeline renders a HistoryStore in a scrolling, virtualised table.
export class Timeline {
  constructor(store, {startTime} = {}) {
    this.store = store;
    this.startTime = startTime ? new Date(startTime) : null;
    this.expanded = new Map(); // event index → extra height (px)
    this.selected = new Set(); // event ids
    this.filter = null; // indices shown, or null for all
    this.rows = new Map(); // event index → {key, nodes} of the rows in the DOM
    this.frame = 0;
    this.thead = h('thead', {}, h('tr', {},
      h('th', {scope: 'col', class: 'c-id'}, '#'),
      h('th', {scope: 'col', class: 'c-time'}, 'Time'),
      h('th', {scope: 'col', class: 'c-type'}, 'Event'),
      h('th', {scope: 'col', class: 'c-sum'}, 'Details')));
    this.topSpacer = h('tr', {class: 'spacer', 'aria-hidden': 'true'}, h('td', {colspan: 4}));
    this.bottomSpacer = h('tr', {class: 'spacer', 'aria-hidden': 'true'}, h('td', {colspan: 4}));
    this.tbody = h('tbody', {}, this.topSpacer, this.bottomSpacer);
    this.table = h('table', {class: 'tl'}, h('caption', {class: 'sr-only'}, 'History events, oldest first'), this.thead, this.tbody);
    this.scroller = h('div', {class: 'tl-scroll', tabindex: '0', role: 'region', 'aria-label': 'History events (scrollable)'}, this.table);
    this.scroller.addEventListener('scroll', () => this.schedule());
    this.scroller.addEventListener('keydown', (ev) => this.onKey(ev));
    this.el = this.scroller;
    this.unsub = store.onChange(() => this.schedule());
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(this.scroller);
  }

  destroy() {
    this.unsub();
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
  }

  count() {
    return this.filter ? this.filter.length : this.store.length;
  }

  indexOfRow(r) {
    return this.filter ? this.filter[r] : r;
  }

  // setFilter shows only the events matching test (all events must be
  // loaded); null shows all.
  setFilter(test) {
    if (!test) this.filter = null;
    else {
      const all = this.store.all();
      this.filter = [];
      all.forEach((e, i) => test(e) && this.filter.push(i));
    }
    this.expanded.clear();
    this.scroller.scrollTop = 0;
    this.render();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  // extras lists the expanded rows (row number → extra height), in order.
  extras() {
    const rows = [];
    for (const [idx, ex] of this.expanded) {
      const r = this.filter ? this.filter.indexOf(idx) : idx;
      if (r >= 0) rows.push([r, ex]);
    }
    return rows.sort((a, b) => a[0] - b[0]);
  }

  offsetOf(r, extras) {
    let y = r * ROW;
    for (const [j, ex] of extras) if (j < r) y += ex;
    return y;
  }

  rowAt(y, extras) {
    let acc = 0;
    for (const [j, ex] of extras) {
      const top = j * ROW + acc;
      if (y < top) break;
      if (y < top + ROW + ex) return j;
      acc += ex;
    }
    return Math.max(0, Math.floor((y - acc) / ROW));
  }

  render() {
    const n = this.count();
    const extras = this.extras();
    const head = this.thead.offsetHeight || ROW;
    const top = Math.max(0, this.scroller.scrollTop - head);
    const viewH = this.scroller.clientHeight || 600;
    const first = Math.max(0, this.rowAt(top, extras) - OVERSCAN);
    const last = Math.min(n - 1, this.rowAt(top + viewH, extras) + OVERSCAN);
    const total = this.offsetOf(n, extras);
    const y0 = this.offsetOf(first, extras);
    const y1 = last >= first ? this.offsetOf(last + 1, extras) : y0;
    this.topSpacer.firstChild.style.height = `${y0}px`;
    this.topSpacer.hidden = y0 === 0;
    this.bottomSpacer.firstChild.style.height = `${Math.max(0, total - y1)}px`;
    this.bottomSpacer.hidden = total - y1 <= 0;

    if (n && last >= first) this.store.ensure(this.indexOfRow(first), this.indexOfRow(last)).catch(() => {});
    const focusedIdx = this.focusedIndex();
    const rows = [];
    const cache = new Map();
    for (let r = first; r <= last; r++) {
      const i = this.indexOfRow(r);
      const e = this.store.get(i);
      const key = `${e ? e.id : '-'}|${this.expanded.has(i)}|${e && this.selected.has(e.id)}`;
      const hit = this.rows.get(i);
      const nodes = hit && hit.key === key ? hit.nodes : this.renderRow(i);
      cache.set(i, {key, nodes});
      rows.push(...nodes);
    }
    this.rows = cache;
    this.patch([this.topSpacer, ...rows, this.bottomSpacer]);
    if (focusedIdx !== null && !this.tbody.contains(document.activeElement)) {
      const b = this.tbody.querySelector(`tr[data-index="${focusedIdx}"] button`);
      if (b) b.focus({preventScroll: true});
    }
    this.measure();
  }

  // patch makes the body's rows want, touching only the rows that come
  // and go: rows that stay keep their elements (and focus, and selection).
  patch(want) {
    const keep = new Set(want);
    for (const c of [...this.tbody.children]) if (!keep.has(c)) c.remove();
    let cur = this.tbody.firstChild;
    for (const n of want) {
      if (cur === n) cur = cur.nextSibling;
      else this.tbody.insertBefore(n, cur);
    }
  }

  focusedIndex() {
    const a = document.activeElement;
    if (!a || !this.tbody.contains(a)) return null;
    const tr = a.closest('tr[data-index]');
    return tr ? Number(tr.dataset.index) : null;
  }

  renderRow(i) {
    const e = this.store.get(i);
    if (!e) {
      return [h('tr', {class: 'ev loading', 'data-index': i},
        h('td', {class: 'c-id'}, String(i + 1)), h('td', {colspan: 3, class: 'muted'}, 'Loading…'))];
    }
    const open = this.expanded.has(i);
    const sum = summary(e);
    const offset = this.startTime ? new Date(e.time) - this.startTime : null;
    const btn = h('button', {type: 'button', class: 'expander', 'aria-expanded': open ? 'true' : 'false',
      'aria-label': `Event ${e.id} ${e.type}: ${open ? 'hide' : 'show'} details`}, h('span', {'aria-hidden': 'true'}, open ? '▾' : '▸'), ` ${e.id}`);
    btn.addEventListener('click', () => this.toggle(i));
    const tr = h('tr', {class: ['ev', this.selected.has(e.id) && 'selected', open && 'open'], 'data-index': i, 'data-id': e.id, 'data-type': e.type},
      h('td', {class: 'c-id'}, btn),
      h('td', {class: 'c-time', title: isoTitle(e.time)}, fmtTime(e.time, {ms: true, date: false}),
        offset !== null ? h('span', {class: 'offset'}, ` +${fmtDuration(offset)}`) : null),
      h('td', {class: 'c-type'}, h('span', {class: ['evtype', TYPE_CLASS[e.type] || 'ev-ctl'], title: e.type}, e.type)),
      h('td', {class: 'c-sum', title: sum}, h('span', {class: 'sum'}, sum)));
    if (!open) return [tr];
    const det = h('tr', {class: ['ev-detail', this.selected.has(e.id) && 'selected'], 'data-detail': i}, h('td', {colspan: 4}, details(e)));
    return [tr, det];
  }

  // measure records the height of expanded rows, for the layout.
  measure() {
    let changed = false;
    for (const tr of this.tbody.querySelectorAll('tr[data-detail]')) {
      const i = Number(tr.dataset.detail);
      const hgt = tr.offsetHeight;
      if (hgt && this.expanded.get(i) !== hgt) {
        this.expanded.set(i, hgt);
        changed = true;
      }
    }
    if (changed) this.schedule();
  }

  toggle(i, force) {
    const open = force !== undefined ? force : !this.expanded.has(i);
    if (open) this.expanded.set(i, this.expanded.get(i) || 200);
    else this.expanded.delete(i);
    this.render();
  }

  // select highlights events (by id), opens the first, and scrolls to it.
  async select(ids, focusId) {
    this.selected = new Set(ids);
    if (!ids.length) return this.render();
    const i = (focusId || ids[0]) - 1;
    if (this.filter && !this.filter.includes(i)) {
      this.filter = null;
      this.onFilterReset && this.onFilterReset();
    }
    await this.store.ensure(ids[0] - 1, ids[ids.length - 1] - 1);
    this.expanded.clear();
    for (const id of ids) this.expanded.set(id - 1, 200);
    const r = this.filter ? this.filter.indexOf(i) : i;
    this.render();
    // The row's top, just under the sticky header; again once the open
    // rows are measured.
    for (let k = 0; k < 3; k++) {
      const y = this.offsetOf(r, this.extras());
      if (Math.abs(this.scroller.scrollTop - y) < 1 && k) break;
      this.scroller.scrollTop = y;
      this.render();
    }
    const b = this.tbody.querySelector(`tr[data-index="${i}"] button.expander`);
    if (b) b.focus({preventScroll: true});
  }

  onKey(ev) {
    const a = document.activeElement;
    if (!a || !a.classList.contains('expander')) return;
    const tr = a.closest('tr[data-index]');
    let target = null;
    if (ev.key === 'ArrowDown') target = tr.nextElementSibling;
    else if (ev.key === 'ArrowUp') target = tr.previousElementSibling;
    else return;
    while (target && !target.dataset.index) target = ev.key === 'ArrowDown' ? target.nextElementSibling : target.previousElementSibling;
    if (!target) return;
    ev.preventDefault();
    const b = target.querySelector('button.expander');
    if (b) {
      b.focus();
      b.scrollIntoView({block: 'nearest'});
    }
  }
}

// filterSelect builds the "show" select of the timeline.
export function filterLabel(key, n) {
  return `${FILTERS[key].label}${n !== undefined ? ` (${num(n)})` : ''}`;
}
