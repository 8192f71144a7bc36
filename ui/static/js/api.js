// Client of the native HTTP API (/api/v1). Every failure is an ApiError
// carrying the HTTP status, the API's error code and its message.

const config = (() => {
  const meta = document.querySelector('meta[name="perdure-config"]');
  try {
    return JSON.parse(meta ? meta.content : '{}');
  } catch {
    return {};
  }
})();

export const BASE = config.api || '/api/v1';
export const TITLE = config.title || 'Perdure';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // describe is what the UI shows: "400 UNKNOWN_WORKFLOW: …".
  describe() {
    return this.status ? `${this.status} ${this.code}: ${this.message}` : `${this.code}: ${this.message}`;
  }
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

// request sends one API request; body is sent as is when it is a string,
// else as JSON.
export async function request(method, path, {query, body, signal} = {}) {
  const init = {method, signal, headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(BASE + path + qs(query), init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `cannot reach the Perdure server (${err.message}); is it running?`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const e = data && data.error;
    throw new ApiError(resp.status, (e && e.code) || `HTTP_${resp.status}`,
      (e && e.message) || text.trim() || resp.statusText || 'request failed');
  }
  return data;
}

// filterQuery converts the list filters to query parameters.
function filterQuery(f) {
  const q = {name: f.name, createdAfter: f.createdAfter, createdBefore: f.createdBefore};
  if (f.id) {
    if (f.id.endsWith('*')) q.instanceIdPrefix = f.id.slice(0, -1);
    else q.instanceId = f.id;
  }
  return q;
}

export const api = {
  workflows: () => request('GET', '/workflows'),
  list: (f, pageToken, pageSize, signal) =>
    request('GET', '/instances', {query: {...filterQuery(f), status: f.status, pageToken, pageSize, allRuns: f.allRuns}, signal}),
  counts: (f, signal) => request('GET', '/instances/counts', {query: filterQuery(f), signal}),
  get: (id, runId, signal) => request('GET', `/instances/${enc(id)}`, {query: {runId}, signal}),
  runs: (id, signal) => request('GET', '/instances', {query: {instanceId: id, allRuns: true, pageSize: 50}, signal}),
  progress: (id, version, wait, signal) => request('GET', `/instances/${enc(id)}/progress`, {query: {version, wait}, signal}),
  history: (id, runId, after, pageSize, signal) =>
    request('GET', `/instances/${enc(id)}/history`, {query: {runId, pageToken: after || undefined, pageSize}, signal}),
  start: (req) => request('POST', '/instances', {body: req}),
  raise: (id, name, dataText) => request('POST', `/instances/${enc(id)}/events/${enc(name)}`, {body: dataText || ''}),
  terminate: (id, reason) => request('POST', `/instances/${enc(id)}/terminate`, {body: reason ? {reason} : {}}),
  suspend: (id, reason) => request('POST', `/instances/${enc(id)}/suspend`, {body: reason ? {reason} : {}}),
  resume: (id) => request('POST', `/instances/${enc(id)}/resume`, {body: {}}),
  purge: (id) => request('DELETE', `/instances/${enc(id)}`),
};

// instancePath is the UI's page of an instance (and of one of its runs).
export function instancePath(id, runId) {
  return `/instances/${enc(id)}${runId ? `?run=${enc(runId)}` : ''}`;
}
