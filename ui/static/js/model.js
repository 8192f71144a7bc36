// The execution model of a run, computed from its history: the steps the
// workflow took (activities, timers, event waits, child workflows, side
// effects, …) with their outcomes, grouped into rows that the diagram
// draws top to bottom. Steps that were outstanding at the same time (a
// fan-out, an activity raced against a timer) form one row, side by side.
// Large rows are aggregated by name, and a sequence of rows that repeats
// (a loop) is folded into one block with counts, so that a history of
// 20,000 events still draws as a handful of nodes.

import {fmtDuration} from './format.js';

// MAX_SIDE is how many nodes a row shows side by side; more parallel
// steps are drawn in a box, MAX_SIDE to a line.
export const MAX_SIDE = 3;
// MAX_GRID is how many different parallel steps a box shows before they
// become one node with counts.
export const MAX_GRID = 12;
// MAX_ROWS bounds the rows drawn; the rest is summarised.
export const MAX_ROWS = 300;

const byName = (a, b) => a.toLowerCase() === b.toLowerCase();

// buildSteps turns the events into steps in the order the workflow issued
// them; pending (the progress document's pending steps) adds live detail.
export function buildSteps(events, pending = []) {
  const steps = [];
  const bySeq = new Map();
  const openWaits = [];
  const pend = new Map(pending.filter((p) => p.step).map((p) => [p.step, p]));
  const add = (st, e, i, instant) => {
    st.events = [e.id];
    st.start = i;
    st.end = instant ? i : Infinity;
    st.time = e.time;
    steps.push(st);
    if (st.seq) bySeq.set(st.seq, st);
    return st;
  };
  const finish = (st, e, i, outcome) => {
    st.events.push(e.id);
    st.end = i;
    st.endTime = e.time;
    st.outcome = outcome;
  };
  events.forEach((e, i) => {
    switch (e.type) {
      case 'ExecutionStarted':
        add({kind: 'start', name: e.name, outcome: 'completed'}, e, i, true);
        break;
      case 'TaskScheduled': {
        const opts = e.options || {};
        add({kind: 'activity', name: e.name, seq: e.seq, compensation: !!opts.compensation, outcome: 'running',
          source: e.source}, e, i, false);
        break;
      }
      case 'TaskCompleted':
      case 'TaskFailed': {
        const st = bySeq.get(e.seq);
        if (!st) break;
        st.attempts = (e.attempts && e.attempts.length) || 1;
        st.failure = e.failure;
        finish(st, e, i, e.type === 'TaskFailed' ? 'failed' : st.attempts > 1 ? 'retried' : 'completed');
        break;
      }
      case 'TimerCreated': {
        const purpose = e.purpose || '';
        if (purpose.startsWith('event:')) {
          openWaits.push(add({kind: 'wait', name: purpose.slice(6), seq: e.seq, fireAt: e.fireAt, outcome: 'running'}, e, i, false));
        } else {
          const ms = new Date(e.fireAt) - new Date(e.time);
          add({kind: 'timer', name: ms >= 0 ? `Sleep ${fmtDuration(ms)}` : 'Timer', seq: e.seq, fireAt: e.fireAt, outcome: 'running'}, e, i, false);
        }
        break;
      }
      case 'TimerFired': {
        const st = bySeq.get(e.seq);
        if (!st || st.end !== Infinity) break;
        finish(st, e, i, st.kind === 'wait' ? 'timedout' : 'completed');
        const k = openWaits.indexOf(st);
        if (k >= 0) openWaits.splice(k, 1);
        break;
      }
      case 'EventRaised': {
        const k = openWaits.findIndex((w) => byName(w.name, e.name || ''));
        if (k >= 0) {
          finish(openWaits[k], e, i, 'completed');
          openWaits.splice(k, 1);
        } else {
          add({kind: 'event', name: e.name, outcome: 'completed'}, e, i, true);
        }
        break;
      }
      case 'SubOrchestrationInstanceCreated':
        add({kind: 'child', name: e.name, seq: e.seq, instanceId: e.instanceId, outcome: 'running'}, e, i, false);
        break;
      case 'SubOrchestrationInstanceCompleted':
      case 'SubOrchestrationInstanceFailed': {
        const st = bySeq.get(e.seq);
        if (!st) break;
        st.failure = e.failure;
        finish(st, e, i, e.type.endsWith('Failed') ? 'failed' : 'completed');
        break;
      }
      case 'SideEffect':
        add({kind: 'sideeffect', name: e.name || 'side effect', seq: e.seq, outcome: e.failure ? 'failed' : 'completed'}, e, i, true);
        break;
      case 'EventSent':
        add({kind: 'send', name: e.name, instanceId: e.instanceId, seq: e.seq, outcome: 'completed'}, e, i, true);
        break;
      case 'ContinueAsNew':
        add({kind: 'continue', name: e.name || 'Continue as new', outcome: 'completed'}, e, i, true);
        break;
      case 'ExecutionSuspended':
      case 'ExecutionResumed':
      case 'ExecutionTerminated':
        add({kind: 'marker', name: e.type.replace('Execution', ''), reason: e.reason, outcome: 'completed'}, e, i, true);
        break;
      case 'ExecutionCompleted':
        add({kind: 'end', name: e.status, status: e.status, failure: e.failure,
          outcome: e.status === 'COMPLETED' ? 'completed' : 'failed'}, e, i, true);
        break;
      default:
        break; // VersionMarker and unknown types: only in the timeline
    }
  });
  for (const st of steps) {
    const p = st.seq && st.end === Infinity ? pend.get(st.seq) : null;
    if (!p) continue;
    st.pending = p;
    if (p.lastFailure) st.outcome = 'retrying';
    if (p.fireAt && !st.fireAt) st.fireAt = p.fireAt;
  }
  return steps;
}

const SOLO = new Set(['start', 'end', 'continue']);

// groupSteps puts steps that were outstanding at once into one group.
export function groupSteps(steps) {
  const groups = [];
  let cur = [];
  let end = -1;
  for (const st of steps) {
    const solo = SOLO.has(st.kind);
    if (cur.length && (solo || st.start > end || SOLO.has(cur[0].kind))) {
      groups.push(cur);
      cur = [];
      end = -1;
    }
    cur.push(st);
    end = Math.max(end, st.end);
  }
  if (cur.length) groups.push(cur);
  return mergeBatches(groups);
}

// mergeBatches joins consecutive groups that run the same steps in
// parallel (a bounded fan-out runs its items batch after batch).
function mergeBatches(groups) {
  const out = [];
  const keys = (g) => [...new Set(g.map(keyOf))].sort().join(',');
  for (const g of groups) {
    const prev = out[out.length - 1];
    if (prev && prev.length > 1 && g.length > 1 && !SOLO.has(g[0].kind) && keys(prev) === keys(g)) {
      prev.push(...g);
    } else {
      out.push(g);
    }
  }
  return out;
}

// concurrency is the most steps of a group outstanding at once.
export function concurrency(group) {
  const pts = [];
  for (const st of group) {
    pts.push([st.start, 1]);
    pts.push([st.end === st.start ? st.start + 0.5 : st.end, -1]);
  }
  pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of pts) {
    cur += d;
    max = Math.max(max, cur);
  }
  return max;
}

const OUTCOMES = ['failed', 'retrying', 'running', 'timedout', 'retried', 'completed'];

// aggregate summarises steps of one kind and name.
function aggregate(steps, label) {
  const counts = {};
  for (const st of steps) counts[st.outcome] = (counts[st.outcome] || 0) + 1;
  const first = steps[0];
  const kinds = new Set(steps.map((s) => s.kind));
  const failedStep = steps.find((s) => s.outcome === 'failed');
  return {
    agg: true,
    kind: kinds.size === 1 ? first.kind : 'mixed',
    name: label || first.name,
    compensation: steps.every((s) => s.compensation),
    count: steps.length,
    counts,
    steps,
    outcome: OUTCOMES.find((o) => counts[o]) || 'completed',
    events: (failedStep || first).events,
  };
}

const keyOf = (st) => `${st.kind}|${st.name}|${st.compensation ? 'c' : ''}`;

// rowOf turns a group into the nodes of one row.
function rowOf(group) {
  if (group.length <= MAX_SIDE) return {nodes: group, parallel: group.length, atOnce: group.length > 1 ? concurrency(group) : 1};
  const atOnce = concurrency(group);
  const byKey = new Map();
  for (const st of group) {
    const k = keyOf(st);
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k).push(st);
  }
  if (byKey.size <= MAX_GRID) {
    return {nodes: [...byKey.values()].map((list) => (list.length === 1 ? list[0] : aggregate(list))), parallel: group.length, atOnce};
  }
  return {nodes: [aggregate(group, `${group.length.toLocaleString('en-US')} steps (${byKey.size} kinds)`)], parallel: group.length, atOnce};
}

const rowSig = (row) => row.nodes.map((n) => `${keyOf(n)}${n.agg ? '*' : ''}`).join(',');

// foldLoops replaces a run of rows that repeats k >= 3 times with one
// block whose nodes aggregate the k iterations.
function foldLoops(rows) {
  const sigs = rows.map(rowSig);
  const out = [];
  let i = 0;
  while (i < rows.length) {
    let best = null;
    if (!rows[i].nodes.some((n) => SOLO.has(n.kind))) {
      for (let p = 1; p <= 4 && i + p <= rows.length; p++) {
        let k = 1;
        while (i + (k + 1) * p <= rows.length && sameSigs(sigs, i, i + k * p, p)) k++;
        // Fold only what would be long to read: 3 steps in a row stay.
        if (k >= 3 && p * k > 6 && (!best || p * k > best.p * best.k)) best = {p, k};
      }
    }
    if (!best) {
      out.push(rows[i]);
      i += 1;
      continue;
    }
    const inner = [];
    for (let j = 0; j < best.p; j++) {
      const nodes = rows[i + j].nodes.map((_, m) => {
        const steps = [];
        for (let it = 0; it < best.k; it++) {
          const n = rows[i + it * best.p + j].nodes[m];
          steps.push(...(n.agg ? n.steps : [n]));
        }
        return aggregate(steps);
      });
      inner.push({nodes, parallel: rows[i + j].parallel, atOnce: rows[i + j].atOnce});
    }
    out.push({loop: true, times: best.k, rows: inner});
    i += best.p * best.k;
  }
  return out;
}

function sameSigs(sigs, a, b, p) {
  for (let j = 0; j < p; j++) if (sigs[a + j] !== sigs[b + j]) return false;
  return true;
}

// buildModel is everything the diagram draws: blocks (rows, or loop
// blocks of rows) and what was left out.
export function buildModel(events, {pending = [], status = '', previousRunId = ''} = {}) {
  const steps = buildSteps(events, pending);
  if (previousRunId && steps.length && steps[0].kind === 'start') steps[0].continued = previousRunId;
  let rows = groupSteps(steps).map(rowOf);
  rows = foldLoops(rows);
  const last = steps[steps.length - 1];
  if (status && !['COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW'].includes(status) && (!last || last.kind !== 'end')) {
    rows.push({nodes: [{kind: 'now', name: status === 'SUSPENDED' ? 'Suspended' : 'Running', outcome: status === 'SUSPENDED' ? 'timedout' : 'running', events: []}]});
  }
  let hidden = 0;
  if (rows.length > MAX_ROWS) {
    const keep = MAX_ROWS - 2;
    hidden = rows.slice(keep, -1).reduce((n, r) => n + countSteps(r), 0);
    rows = [...rows.slice(0, keep), {nodes: [{kind: 'more', name: `${hidden.toLocaleString('en-US')} more steps`, outcome: 'none', events: []}]}, rows[rows.length - 1]];
  }
  return {rows, steps, hidden};
}

function countSteps(r) {
  if (r.loop) return r.rows.reduce((n, x) => n + countSteps(x), 0);
  return r.nodes.reduce((n, x) => n + (x.agg ? x.count : 1), 0);
}

// children lists the child workflows a run started.
export function childrenOf(steps) {
  return steps.filter((s) => s.kind === 'child');
}
