// HistoryStore holds a run's history, fetched by pages on demand: the
// timeline asks for the rows it shows, the diagram for everything. Event
// ids are 1, 2, 3… within a run, so event i (0-based) has id i+1 and page k
// is the events after id k*PAGE.

import {api} from './api.js';

export const PAGE = 1000;
const PARALLEL = 4;

export class HistoryStore {
  constructor(instanceId, runId) {
    this.instanceId = instanceId;
    this.runId = runId;
    this.length = 0;
    this.pages = new Map(); // page index → events
    this.inflight = new Map(); // page index → promise
    this.listeners = new Set();
    this.abort = new AbortController();
    this.closed = false;
  }

  close() {
    this.closed = true;
    this.abort.abort();
    this.listeners.clear();
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  // setLength records the history's length (from the progress document);
  // a partial last page is fetched again when the history grew.
  setLength(n) {
    if (n === this.length) return;
    const last = Math.floor((this.length - 1) / PAGE);
    if (this.length > 0 && this.length % PAGE !== 0 && this.pages.has(last)) this.pages.delete(last);
    this.length = Math.max(n, this.length);
    this.emit();
  }

  get(i) {
    const p = this.pages.get(Math.floor(i / PAGE));
    return p ? p[i % PAGE] : undefined;
  }

  loadedCount() {
    let n = 0;
    for (const p of this.pages.values()) n += p.length;
    return Math.min(n, this.length);
  }

  complete() {
    return this.length > 0 && this.loadedCount() >= this.length;
  }

  async page(k) {
    if (this.pages.has(k)) return this.pages.get(k);
    if (this.inflight.has(k)) return this.inflight.get(k);
    const p = api.history(this.instanceId, this.runId, k * PAGE, PAGE, this.abort.signal).then((res) => {
      this.inflight.delete(k);
      if (this.closed) return [];
      const evs = res.events || [];
      const expected = Math.min(PAGE, this.length - k * PAGE);
      if (evs.length >= expected) this.pages.set(k, evs); // a short page is not kept: it grows
      if (k * PAGE + evs.length > this.length) this.length = k * PAGE + evs.length;
      this.emit();
      return evs;
    }, (err) => {
      this.inflight.delete(k);
      throw err;
    });
    this.inflight.set(k, p);
    return p;
  }

  // ensure loads the pages holding events from..to (0-based, inclusive).
  ensure(from, to) {
    const want = [];
    for (let k = Math.floor(Math.max(0, from) / PAGE); k <= Math.floor(Math.max(0, to) / PAGE); k++) {
      if (k * PAGE < this.length && !this.pages.has(k)) want.push(this.page(k));
    }
    return Promise.all(want);
  }

  // loadAll fetches every page, a few at a time.
  async loadAll() {
    const total = Math.ceil(this.length / PAGE);
    const todo = [];
    for (let k = 0; k < total; k++) if (!this.pages.has(k)) todo.push(k);
    const run = async () => {
      while (todo.length && !this.closed) await this.page(todo.shift());
    };
    await Promise.all(Array.from({length: PARALLEL}, run));
  }

  // all returns the loaded events in order (the complete history when
  // complete() is true).
  all() {
    const out = [];
    const total = Math.ceil(this.length / PAGE);
    for (let k = 0; k < total; k++) {
      const p = this.pages.get(k);
      if (!p) break;
      for (const e of p) out.push(e);
    }
    return out;
  }
}
