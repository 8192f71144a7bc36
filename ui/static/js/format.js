// Formatting of times, durations, statuses and JSON payloads.

const pad = (n, w = 2) => String(n).padStart(w, '0');

export function parseTime(t) {
  if (!t) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

// fmtTime shows a time in the browser's zone: 2024-05-01 14:00:09.
export function fmtTime(t, {ms = false, date = true} = {}) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return '—';
  let out = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (ms) out += `.${pad(d.getMilliseconds(), 3)}`;
  if (date) out = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${out}`;
  return out;
}

// isoTitle is the exact UTC time, for title attributes.
export function isoTitle(t) {
  const d = t instanceof Date ? t : parseTime(t);
  return d ? d.toISOString() : '';
}

// fmtDuration: 850 ms, 1.25 s, 2 min 5 s, 3 h 4 min, 2 d 3 h.
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const neg = ms < 0;
  ms = Math.abs(ms);
  let out;
  if (ms < 1000) out = `${Math.round(ms)} ms`;
  else if (ms < 10000) out = `${(ms / 1000).toFixed(2)} s`;
  else if (ms < 60000) out = `${(ms / 1000).toFixed(1)} s`;
  else {
    const sec = Math.floor(ms / 1000);
    const d = Math.floor(sec / 86400);
    const hr = Math.floor((sec % 86400) / 3600);
    const min = Math.floor((sec % 3600) / 60);
    const se = sec % 60;
    if (d) out = `${d} d ${hr} h`;
    else if (hr) out = `${hr} h ${min} min`;
    else out = `${min} min ${se} s`;
  }
  return neg ? `-${out}` : out;
}

export function between(a, b) {
  const x = parseTime(a);
  const y = b ? parseTime(b) : new Date();
  return x && y ? y - x : null;
}

// relative: "in 23 h 59 min", "3 min 2 s ago".
export function relative(t) {
  const d = parseTime(t);
  if (!d) return '';
  const diff = d - Date.now();
  if (Math.abs(diff) < 1000) return 'now';
  return diff > 0 ? `in ${fmtDuration(diff)}` : `${fmtDuration(-diff)} ago`;
}

export const STATUSES = ['RUNNING', 'PENDING', 'SUSPENDED', 'COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW'];

const STATUS_LABELS = {
  RUNNING: 'Running', PENDING: 'Pending', SUSPENDED: 'Suspended', COMPLETED: 'Completed',
  FAILED: 'Failed', TERMINATED: 'Terminated', CONTINUED_AS_NEW: 'Continued as new',
};

export function statusLabel(st) {
  return STATUS_LABELS[st] || st || 'Unknown';
}

export function isFinished(st) {
  return st === 'COMPLETED' || st === 'FAILED' || st === 'TERMINATED' || st === 'CONTINUED_AS_NEW';
}

// isNull: an unset payload (absent or JSON null).
export function isNull(v) {
  return v === undefined || v === null;
}

// pretty prints a JSON value with two-space indentation.
export function pretty(v) {
  if (v === undefined) return '';
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

// preview is a one-line, shortened JSON form of v.
export function preview(v, max = 80) {
  if (v === undefined) return '';
  let out;
  try {
    out = JSON.stringify(v);
  } catch {
    out = String(v);
  }
  if (out === undefined) return '';
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

// shortID shortens a run id to its last 8 characters. Ids are UUIDs of
// version 7, which start with their creation time: the runs of one
// instance share their first characters, and differ at the end.
export function shortID(id) {
  return id.length > 8 ? `…${id.slice(-8)}` : id;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export function num(n) {
  return Number(n || 0).toLocaleString('en-US');
}

// failureText: "message (Type)".
export function failureText(f) {
  if (!f) return '';
  return f.type ? `${f.message} (${f.type})` : f.message || '';
}

// toLocalInput converts a Date to a datetime-local input value.
export function toLocalInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
