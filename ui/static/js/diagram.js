// The execution diagram: an SVG drawn from the model (model.js), top to
// bottom, parallel steps side by side, one shape per kind of step, one
// colour per outcome, and a text line saying the outcome so that colour is
// never the only cue. Nodes are focusable buttons; choosing one selects its
// events in the timeline.

import {h, s} from './dom.js';
import {fmtDuration, relative, fmtTime, num, shortID} from './format.js';
import {MAX_SIDE} from './model.js';

const BOX_PAD = 10; // padding of a box of parallel steps
const BOX_HEAD = 22;
const GL = 14; // gap between the lines of a box

const W = 176; // node width
const H = 60; // node height
const GX = 12; // horizontal gap
const GY = 34; // vertical gap (edges)
const PAD = 16;
const LOOP_PAD = 12;
const LOOP_HEAD = 30;

const KIND_LABEL = {
  start: 'START', end: 'END', activity: 'ACTIVITY', timer: 'TIMER', wait: 'WAIT FOR EVENT', event: 'EVENT RECEIVED',
  child: 'CHILD WORKFLOW', sideeffect: 'SIDE EFFECT', send: 'SEND EVENT', continue: 'CONTINUE AS NEW',
  marker: 'CONTROL', mixed: 'PARALLEL STEPS', more: 'NOT DRAWN', now: 'NOW',
};

const OUTCOME_WORD = {
  completed: 'completed', retried: 'completed after retries', failed: 'failed', running: 'running',
  retrying: 'retrying', timedout: 'timed out', none: '',
};

function truncate(t, n) {
  t = String(t ?? '');
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

// outcomeText is the node's third line: what happened to the step.
export function outcomeText(n) {
  if (n.agg) {
    const parts = [];
    for (const o of ['completed', 'retried', 'failed', 'retrying', 'running', 'timedout']) {
      if (n.counts[o]) parts.push(`${num(n.counts[o])} ${OUTCOME_WORD[o] === 'completed after retries' ? 'retried' : OUTCOME_WORD[o]}`);
    }
    return parts.join(' · ');
  }
  const dur = n.endTime ? fmtDuration(new Date(n.endTime) - new Date(n.time)) : '';
  switch (n.kind) {
    case 'start':
      return n.continued ? `continued from run ${shortID(n.continued)}` : 'started';
    case 'continue':
      return 'starts the next run';
    case 'end':
      return n.status ? n.status.toLowerCase().replace(/_/g, ' ') : '';
    case 'now':
      return n.name === 'Suspended' ? 'suspended: resume to continue' : 'in progress';
    case 'more':
      return 'see the history';
    case 'timer':
      if (n.outcome === 'completed') return `fired after ${dur}`;
      return `fires ${relative(n.fireAt)}`;
    case 'wait':
      if (n.outcome === 'completed') return `received after ${dur}`;
      if (n.outcome === 'timedout') return `timed out after ${dur}`;
      return n.fireAt ? `waiting · times out ${relative(n.fireAt).replace(/ \d+ (min|s)$/, '')}` : 'waiting';
    case 'activity': {
      const p = n.pending;
      if (n.outcome === 'failed') return `failed after ${n.attempts} attempt${n.attempts === 1 ? '' : 's'}`;
      if (n.outcome === 'retried') return `completed after ${n.attempts} attempts`;
      if (n.outcome === 'completed') return `completed in ${dur}`;
      if (p && p.lastFailure) return `attempt ${p.attempt} failed · retry ${p.nextAttemptAt ? relative(p.nextAttemptAt) : 'soon'}`;
      if (p && p.state === 'PENDING') return `waiting for completion (attempt ${p.attempt || 1})`;
      if (p && p.attempt) return `running · attempt ${p.attempt}`;
      return 'running';
    }
    default:
      return OUTCOME_WORD[n.outcome] || '';
  }
}

export function nodeLabel(n) {
  let kind = KIND_LABEL[n.kind] || n.kind.toUpperCase();
  if (n.compensation) kind = `COMPENSATION · ${kind}`;
  if (n.agg && n.kind !== 'mixed') kind = `${num(n.count)} × ${kind}`;
  return kind;
}

function nodeName(n) {
  if (n.agg && n.kind !== 'mixed') return n.name;
  if (n.kind === 'end' || n.kind === 'start') return n.kind === 'start' ? n.name : 'Workflow ended';
  if (n.kind === 'marker') return n.reason ? `${n.name}: ${n.reason}` : n.name;
  return n.name || '';
}

// shape draws the outline of a node of kind at 0,0 (W×H).
function shape(kind, agg) {
  const cls = 'shape';
  let el;
  switch (kind) {
    case 'start':
    case 'end':
    case 'now':
    case 'marker':
      el = s('rect', {class: cls, width: W, height: H, rx: H / 2});
      break;
    case 'timer':
      el = s('polygon', {class: cls, points: `14,0 ${W - 14},0 ${W},${H / 2} ${W - 14},${H} 14,${H} 0,${H / 2}`});
      break;
    case 'wait':
    case 'event':
      el = s('polygon', {class: cls, points: `12,0 ${W},0 ${W - 12},${H} 0,${H}`});
      break;
    case 'continue':
      el = s('polygon', {class: cls, points: `0,0 ${W - 16},0 ${W},${H / 2} ${W - 16},${H} 0,${H}`});
      break;
    case 'child':
      el = s('g', {}, s('rect', {class: cls, width: W, height: H, rx: 3}), s('rect', {class: 'inner', x: 4, y: 4, width: W - 8, height: H - 8, rx: 2}));
      break;
    case 'sideeffect':
    case 'send':
      el = s('polygon', {class: cls, points: `0,0 ${W - 12},0 ${W},12 ${W},${H} 0,${H}`});
      break;
    case 'more':
      el = s('rect', {class: cls, width: W, height: H, rx: 8});
      break;
    default:
      el = s('rect', {class: cls, width: W, height: H, rx: 8});
  }
  if (!agg) return el;
  // a stack: two outlines behind the node say "many".
  return s('g', {}, s('rect', {class: 'stack', x: 6, y: -6, width: W, height: H, rx: 8}),
    s('rect', {class: 'stack', x: 3, y: -3, width: W, height: H, rx: 8}), el);
}

function drawNode(n, x, y, onSelect) {
  const label = nodeLabel(n);
  const name = nodeName(n);
  const out = outcomeText(n);
  const full = `${label}: ${name}. ${out}${n.compensation ? '. Compensation step (saga)' : ''}`;
  const g = s('g', {
    class: ['node', `k-${n.kind}`, `o-${n.outcome}`, n.compensation && 'comp', n.agg && 'agg'],
    transform: `translate(${x},${y})`,
    'data-events': (n.events || []).join(','),
    'data-kind': n.kind,
    'data-outcome': n.outcome,
  },
  s('title', {}, full),
  shape(n.kind, n.agg),
  s('text', {class: 'k', x: W / 2, y: 16}, truncate(label, 32)),
  s('text', {class: name.length > 20 ? 'n long' : 'n', x: W / 2, y: 34}, truncate(name, 27)),
  s('text', {class: 'o', x: W / 2, y: 50}, truncate(out, 29)));
  if (n.events && n.events.length) {
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', full);
    const pick = () => onSelect(n, g);
    g.addEventListener('click', pick);
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        pick();
      }
    });
  }
  return g;
}

// parLabel says how many steps of a row ran in parallel, when the nodes
// do not show it.
function parLabel(row) {
  if (!(row.parallel > MAX_SIDE || (row.parallel > 1 && row.atOnce < row.parallel))) return '';
  if (row.atOnce >= row.parallel) return `${num(row.parallel)} in parallel`;
  return `${num(row.parallel)} in parallel, up to ${num(row.atOnce)} at once`;
}

function rowWidth(row) {
  const n = Math.min(row.nodes.length, MAX_SIDE);
  return n * W + (n - 1) * GX + (row.nodes.length > MAX_SIDE ? 2 * BOX_PAD : 0);
}

// renderDiagram returns the SVG of a model; onSelect(node) is called when
// a node is chosen.
export function renderDiagram(model, onSelect) {
  const flat = []; // rows in drawing order, with their loop
  for (const b of model.rows) {
    if (b.loop) b.rows.forEach((r, j) => flat.push({row: r, loop: b, first: j === 0, last: j === b.rows.length - 1}));
    else flat.push({row: b});
  }
  // Room for the "N in parallel" labels, right of the centre line.
  const labelHalf = Math.max(0, ...flat.map((f) => (f.row.nodes.length <= MAX_SIDE && f.row.parallel > 1 ? 12 + parLabel(f.row).length * 6.2 : 0)));
  const inner = Math.max(W, 2 * labelHalf, ...flat.map((f) => rowWidth(f.row) + (f.loop ? 2 * LOOP_PAD : 0)));
  const width = inner + 2 * PAD;
  const cx = width / 2;
  const nodes = s('g', {class: 'nodes'});
  const edges = s('g', {class: 'edges'});
  const loops = s('g', {class: 'loops'});
  let y = PAD;
  let prev = null;
  let loopTop = 0;
  for (const f of flat) {
    if (f.loop && f.first) {
      if (prev) y += 6;
      loopTop = y;
      y += LOOP_HEAD;
    }
    const rw = rowWidth(f.row);
    const x0 = cx - rw / 2;
    const par = parLabel(f.row);
    let centers;
    let bottom;
    if (f.row.nodes.length <= MAX_SIDE) {
      centers = f.row.nodes.map((_, j) => x0 + j * (W + GX) + W / 2);
      if (par) nodes.append(s('text', {class: 'par', x: cx + 6, y: y - GY / 2 - 3}, par));
      f.row.nodes.forEach((n, j) => nodes.append(drawNode(n, x0 + j * (W + GX), y, onSelect)));
      bottom = y + H;
    } else {
      // Many different steps at once: a box, MAX_SIDE to a line.
      const lines = Math.ceil(f.row.nodes.length / MAX_SIDE);
      const bh = BOX_HEAD + lines * H + (lines - 1) * GL + BOX_PAD;
      loops.append(s('g', {class: 'pbox'}, s('rect', {x: x0, y, width: rw, height: bh, rx: 10}),
        s('text', {x: x0 + 10, y: y + 15}, `⇉ ${par || `${num(f.row.parallel)} in parallel`}`)));
      f.row.nodes.forEach((n, j) => {
        const line = Math.floor(j / MAX_SIDE);
        const inLine = Math.min(MAX_SIDE, f.row.nodes.length - line * MAX_SIDE);
        const lx = cx - (inLine * W + (inLine - 1) * GX) / 2;
        nodes.append(drawNode(n, lx + (j % MAX_SIDE) * (W + GX), y + BOX_HEAD + line * (H + GL), onSelect));
      });
      centers = [cx];
      bottom = y + bh;
    }
    if (prev) edges.append(connect(prev.centers, prev.bottom, centers, y));
    prev = {centers, bottom};
    y = bottom;
    if (f.loop && f.last) {
      y += LOOP_PAD;
      const lw = Math.max(...f.loop.rows.map(rowWidth)) + 2 * LOOP_PAD;
      loops.append(s('g', {class: 'loop'},
        s('rect', {x: cx - lw / 2, y: loopTop, width: lw, height: y - loopTop, rx: 10}),
        s('text', {x: cx - lw / 2 + 10, y: loopTop + 16}, `↻ repeated ${num(f.loop.times)} times`)));
      prev.bottom = y;
    }
    y += GY;
  }
  const height = y - GY + PAD;
  const svg = s('svg', {
    class: 'diagram', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group',
    'aria-label': 'Execution diagram: steps in order, top to bottom; parallel steps side by side',
  },
  s('defs', {}, s('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
    s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))),
  loops, edges, nodes);
  return svg;
}

// connect draws the edges from one row to the next: straight when both
// have one node, else through a bar (fork and join).
function connect(from, fromY, to, toY) {
  const g = s('g', {});
  if (from.length === 1 && to.length === 1 && Math.abs(from[0] - to[0]) < 1) {
    g.append(s('line', {x1: from[0], y1: fromY, x2: to[0], y2: toY - 1, 'marker-end': 'url(#arrow)'}));
    return g;
  }
  const mid = (fromY + toY) / 2;
  const xs = [...from, ...to];
  for (const x of from) g.append(s('line', {x1: x, y1: fromY, x2: x, y2: mid}));
  g.append(s('line', {class: 'bar', x1: Math.min(...xs), y1: mid, x2: Math.max(...xs), y2: mid}));
  for (const x of to) g.append(s('line', {x1: x, y1: mid, x2: x, y2: toY - 1, 'marker-end': 'url(#arrow)'}));
  return g;
}

// legend explains colours and shapes, with text.
export function legend() {
  const item = (cls, kind, text) => {
    const sw = s('svg', {width: 30, height: 18, viewBox: `0 0 ${W} ${H}`, 'aria-hidden': 'true', class: ['swatch', 'node', cls]},
      shape(kind, false));
    sw.setAttribute('preserveAspectRatio', 'none');
    return h('li', {}, sw, text);
  };
  return h('div', {class: 'legend'},
    h('ul', {'aria-label': 'Colours'},
      item('o-completed', 'activity', 'Completed'),
      item('o-retried', 'activity', 'Completed after retries'),
      item('o-failed', 'activity', 'Failed'),
      item('o-running', 'activity', 'Running / waiting'),
      item('o-timedout', 'activity', 'Timed out'),
      item('o-completed comp', 'activity', 'Compensation (dashed)')),
    h('ul', {'aria-label': 'Shapes'},
      item('o-none', 'activity', 'Activity'),
      item('o-none', 'timer', 'Timer'),
      item('o-none', 'wait', 'Event'),
      item('o-none', 'child', 'Child workflow'),
      item('o-none', 'continue', 'Continue as new')));
}

// describeNode is the text of a node for the selection summary.
export function describeNode(n) {
  const parts = [`${nodeLabel(n)} ${nodeName(n)}: ${outcomeText(n)}`];
  if (n.time && !n.agg) parts.push(`issued ${fmtTime(n.time, {ms: true})}`);
  return parts.join(', ');
}
