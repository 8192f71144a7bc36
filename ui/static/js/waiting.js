// "What it waits on now": the pending steps of the progress document
// (activities with their attempts, timers, event waits, children), the
// instance's waiting list (which also names events waited for without a
// timeout), and raised events not consumed yet — so that a stuck workflow
// explains itself.

import {h} from './dom.js';
import {fmtTime, isoTitle, relative, pretty, failureText, statusLabel} from './format.js';
import {instancePath} from './api.js';

function when(t) {
  return h('time', {datetime: t, title: isoTitle(t)}, `${fmtTime(t)} (${relative(t)})`);
}

function item(kind, title, lines, actions) {
  return h('li', {class: ['wait', `wait-${kind}`]},
    h('div', {class: 'wait-head'}, h('span', {class: 'wait-kind'}, kind), h('strong', {class: 'wait-title'}, title)),
    lines.filter(Boolean).map((l) => h('div', {class: 'wait-line'}, l)),
    actions && actions.length ? h('div', {class: 'wait-actions'}, actions) : null);
}

function activityItem(p) {
  const state = {READY: p.lastFailure ? 'waiting to retry' : 'waiting for a worker', RUNNING: 'running on a worker',
    PENDING: 'waiting for completion by task token'}[p.state] || 'result received, being applied';
  return item('activity', `${p.name} (step ${p.step})`, [
    `Attempt ${p.attempt || 1}: ${state}`,
    p.lastFailure ? h('span', {class: 'err'}, `Last attempt failed: ${failureText(p.lastFailure)}`) : null,
    p.nextAttemptAt ? h('span', {}, 'Next attempt at ', when(p.nextAttemptAt)) : null,
    p.deadline ? h('span', {}, 'Attempt deadline ', when(p.deadline)) : null,
    p.heartbeatDetails !== undefined ? h('div', {}, 'Heartbeat details:', h('pre', {class: 'json'}, pretty(p.heartbeatDetails))) : null,
    p.taskToken ? h('details', {}, h('summary', {}, 'Task token'), h('code', {class: 'token'}, p.taskToken)) : null,
    p.since ? h('span', {class: 'muted'}, 'Scheduled ', when(p.since), p.source ? ` at ${p.source}` : '') : null,
  ]);
}

// waitingPanel builds the list; onRaise(name) opens the raise dialog.
export function waitingPanel(inst, progress, onRaise) {
  const items = [];
  const pending = (progress && progress.pending) || [];
  const seenSteps = new Set();
  const seenEvents = new Set();
  const raiseBtn = (name) => h('button', {type: 'button', class: 'btn btn-small btn-primary', onClick: () => onRaise(name)}, `Raise ${name}…`);
  for (const p of pending) {
    seenSteps.add(p.step);
    switch (p.kind) {
      case 'activity':
        items.push(activityItem(p));
        break;
      case 'timer':
        items.push(item('timer', `Timer (step ${p.step})`, [h('span', {}, 'Fires at ', when(p.fireAt)), p.source ? h('span', {class: 'muted'}, `Set at ${p.source}`) : null]));
        break;
      case 'event':
        seenEvents.add((p.name || '').toLowerCase());
        items.push(item('event', p.name, [
          'Waiting for this event to be raised',
          p.fireAt ? h('span', {}, 'Times out at ', when(p.fireAt)) : null,
          p.source ? h('span', {class: 'muted'}, `Waiting at ${p.source}`) : null,
        ], [raiseBtn(p.name)]));
        break;
      case 'child':
        items.push(item('child', `${p.name || 'Child workflow'} (step ${p.step})`, [
          h('span', {}, 'Waiting for child ', h('a', {href: instancePath(p.instanceId)}, p.instanceId), ' to finish'),
        ]));
        break;
      default:
        items.push(item(p.kind, p.name || p.kind, []));
    }
  }
  for (const w of inst.waiting || []) {
    if (w.step && seenSteps.has(w.step)) continue;
    switch (w.kind) {
      case 'event':
        if (seenEvents.has((w.name || '').toLowerCase())) continue;
        seenEvents.add((w.name || '').toLowerCase());
        items.push(item('event', w.name, ['Waiting for this event to be raised (no timeout)'], [raiseBtn(w.name)]));
        break;
      case 'timer':
        if (w.purpose && w.purpose.startsWith('event:')) continue;
        items.push(item('timer', `Timer${w.step ? ` (step ${w.step})` : ''}`, [w.fireAt ? h('span', {}, 'Fires at ', when(w.fireAt)) : null]));
        break;
      case 'activity':
        items.push(item('activity', `${w.name}${w.step ? ` (step ${w.step})` : ''}`, ['Scheduled, no result yet']));
        break;
      case 'child':
        items.push(item('child', w.name || 'Child workflow', [w.instanceId ? h('a', {href: instancePath(w.instanceId)}, w.instanceId) : null]));
        break;
      case 'more':
        items.push(h('li', {class: 'wait muted'}, `… and ${w.count} more`));
        break;
      default:
        break;
    }
  }
  const buffered = (progress && progress.bufferedEvents) || [];
  const out = [];
  if (inst.status === 'SUSPENDED') {
    out.push(h('p', {class: 'alert alert-warn'}, 'Suspended: it takes no step until it is resumed.'));
  }
  if (items.length) out.push(h('ul', {class: 'waits'}, items));
  else if (inst.status === 'PENDING') out.push(h('p', {}, 'Waiting to start: a worker picks it up at its start time.'));
  else if (inst.status === 'RUNNING') {
    out.push(h('p', {}, 'No step is outstanding: the workflow is about to take its next step, or waits for a worker to run it.'));
  }
  if (buffered.length) {
    out.push(h('h3', {class: 'h-small'}, 'Raised, not consumed yet'),
      h('ul', {class: 'waits'}, buffered.map((b) => item('event', b.name, [h('span', {}, 'Raised at ', when(b.raisedAt)),
        b.data !== null && b.data !== undefined ? h('pre', {class: 'json'}, pretty(b.data)) : null]))));
  }
  if (!out.length) out.push(h('p', {class: 'muted'}, `Nothing: it has finished (${statusLabel(inst.status)}).`));
  return out;
}

// waitingSummary is a one-line text of what an instance waits on.
export function waitingSummary(inst) {
  const counts = new Map();
  let more = 0;
  for (const w of inst.waiting || []) {
    let label = null;
    if (w.kind === 'event') label = `event ${w.name}`;
    else if (w.kind === 'activity') label = `activity ${w.name}`;
    else if (w.kind === 'child') label = `child ${w.instanceId || w.name}`;
    else if (w.kind === 'timer' && !(w.purpose || '').startsWith('event:')) label = `timer at ${fmtTime(w.fireAt)}`;
    else if (w.kind === 'more') more += w.count || 0;
    if (label) counts.set(label, (counts.get(label) || 0) + 1);
  }
  const parts = [...counts].map(([label, n]) => (n > 1 ? `${n} × ${label}` : label));
  if (more) parts.push(`${more} more`);
  return parts.join(', ');
}
