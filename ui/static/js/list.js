// The instances page: counts per status (each a filter), filters by
// workflow name, instance id and creation time, a table with keyboard
// navigation, cursor pagination (fast at any depth: the API pages by
// keyset), and live refresh every few seconds.

import {h, clear, field, keepFocus} from './dom.js';
import {api, ApiError, instancePath} from './api.js';
import {fmtTime, isoTitle, fmtDuration, between, statusLabel, STATUSES, num, failureText, preview, toLocalInput, isFinished, isNull} from './format.js';
import {badge} from './instance.js';
import {waitingSummary} from './waiting.js';
import {startDialog} from './dialogs.js';

const REFRESH_MS = 3000;
const PAGE_SIZES = [25, 50, 100, 200];

const RANGES = {
  any: {label: 'Any time'},
  '15m': {label: 'Last 15 minutes', ms: 15 * 60e3},
  '1h': {label: 'Last hour', ms: 3600e3},
  '24h': {label: 'Last 24 hours', ms: 86400e3},
  '7d': {label: 'Last 7 days', ms: 7 * 86400e3},
  custom: {label: 'Custom range…'},
};

// readFilters takes the filters from the page URL.
function readFilters(url) {
  const q = url.searchParams;
  return {
    status: q.get('status') || '',
    name: q.get('name') || '',
    id: q.get('id') || '',
    range: RANGES[q.get('range')] ? q.get('range') : 'any',
    after: q.get('after') || '',
    before: q.get('before') || '',
    pageSize: PAGE_SIZES.includes(Number(q.get('size'))) ? Number(q.get('size')) : 50,
  };
}

function filtersURL(f) {
  const q = new URLSearchParams();
  if (f.status) q.set('status', f.status);
  if (f.name) q.set('name', f.name);
  if (f.id) q.set('id', f.id);
  if (f.range !== 'any') q.set('range', f.range);
  if (f.range === 'custom' && f.after) q.set('after', f.after);
  if (f.range === 'custom' && f.before) q.set('before', f.before);
  if (f.pageSize !== 50) q.set('size', String(f.pageSize));
  const s = q.toString();
  return s ? `/?${s}` : '/';
}

// apiFilter converts the page's filters to the API's.
function apiFilter(f) {
  const out = {status: f.status, name: f.name, id: f.id};
  if (RANGES[f.range].ms) out.createdAfter = new Date(Date.now() - RANGES[f.range].ms).toISOString();
  if (f.range === 'custom') {
    const iso = (v) => {
      const d = v ? new Date(v) : null;
      return d && !Number.isNaN(d.getTime()) ? d.toISOString() : '';
    };
    out.createdAfter = iso(f.after);
    out.createdBefore = iso(f.before);
  }
  return out;
}

export function mountList(main, ctx) {
  const f = readFilters(ctx.url);
  const abort = new AbortController();
  // Pages: the tokens of the pages before this one, kept in history.state
  // so that Back returns to the same page.
  const st = history.state || {};
  let tokens = Array.isArray(st.tokens) ? st.tokens : [];
  let token = typeof st.token === 'string' ? st.token : '';
  let timer = 0;
  let lastJSON = '';
  let countsOK = true;
  let closed = false;

  ctx.setTitle('Instances');
  const countsBar = h('div', {class: 'counts', role: 'group', 'aria-label': 'Filter by status'});
  const nameInput = h('input', {type: 'search', name: 'name', value: f.name, list: 'wf-list', autocomplete: 'off', spellcheck: 'false'});
  const idInput = h('input', {type: 'search', name: 'id', value: f.id, autocomplete: 'off', spellcheck: 'false'});
  const rangeSel = h('select', {name: 'range'}, Object.entries(RANGES).map(([k, r]) => h('option', {value: k, selected: k === f.range}, r.label)));
  const afterInput = h('input', {type: 'datetime-local', name: 'after', value: f.after});
  const beforeInput = h('input', {type: 'datetime-local', name: 'before', value: f.before});
  const custom = h('div', {class: 'custom-range', hidden: f.range !== 'custom'}, field('Created after', afterInput), field('Created before', beforeInput));
  const sizeSel = h('select', {name: 'size'}, PAGE_SIZES.map((n) => h('option', {value: n, selected: n === f.pageSize}, String(n))));
  const live = h('input', {type: 'checkbox', id: 'live', checked: true});
  const datalist = h('datalist', {id: 'wf-list'});
  const form = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter instances'},
    field('Workflow', nameInput),
    field('Instance ID', idInput, 'Exact, or a prefix ending in *'),
    field('Created', rangeSel),
    custom,
    h('div', {class: 'filter-buttons'},
      h('button', {type: 'submit', class: 'btn btn-primary'}, 'Apply'),
      h('button', {type: 'button', class: 'btn', onClick: () => ctx.navigate('/')}, 'Clear')),
    datalist);
  const status = h('p', {class: 'list-status', role: 'status'});
  const tbody = h('tbody', {});
  const table = h('table', {class: 'instances'},
    h('caption', {class: 'sr-only'}, 'Workflow instances, newest first. Use the arrow keys to move between rows and Enter to open one.'),
    h('thead', {}, h('tr', {}, ['Instance ID', 'Workflow', 'Status', 'Created', 'Duration', 'Details'].map((c) => h('th', {scope: 'col'}, c)))),
    tbody);
  const prevBtn = h('button', {type: 'button', class: 'btn', onClick: () => goPage(-1)}, '← Newer');
  const nextBtn = h('button', {type: 'button', class: 'btn', onClick: () => goPage(1)}, 'Older →');
  const pageInfo = h('span', {class: 'muted'});
  const errorBox = h('div', {class: 'list-error'});

  main.append(
    h('div', {class: 'page-head'}, h('h1', {}, 'Workflow instances'),
      h('div', {class: 'live'}, live, h('label', {for: 'live'}, 'Live refresh'))),
    countsBar, form, errorBox, status,
    h('div', {class: 'table-wrap'}, table),
    h('nav', {class: 'pager', 'aria-label': 'Pages'}, prevBtn, pageInfo, nextBtn,
      h('label', {class: 'size'}, 'Rows per page ', sizeSel)));

  api.workflows().then((res) => {
    for (const n of res.workflows || []) datalist.append(h('option', {value: n}));
  }, () => {});

  rangeSel.addEventListener('change', () => {
    custom.hidden = rangeSel.value !== 'custom';
    if (rangeSel.value === 'custom' && !afterInput.value) afterInput.value = toLocalInput(new Date(Date.now() - 86400e3));
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    apply({...f, name: nameInput.value.trim(), id: idInput.value.trim(), range: rangeSel.value, after: afterInput.value, before: beforeInput.value});
  });
  sizeSel.addEventListener('change', () => apply({...f, pageSize: Number(sizeSel.value)}));
  live.addEventListener('change', () => (live.checked ? schedule(0) : clearTimeout(timer)));

  function apply(nf) {
    ctx.navigate(filtersURL(nf), {state: {tokens: [], token: ''}});
  }

  function goPage(dir) {
    if (dir > 0) {
      if (!nextToken) return;
      tokens = [...tokens, token];
      token = nextToken;
    } else {
      if (!tokens.length) return;
      token = tokens[tokens.length - 1];
      tokens = tokens.slice(0, -1);
    }
    history.replaceState({tokens, token}, '', location.href);
    lastJSON = '';
    load(true);
  }

  let nextToken = '';

  function renderCounts(counts) {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const btn = (value, label, n) => h('button', {type: 'button', class: ['count', value && `st-${value}`], 'aria-pressed': f.status === value ? 'true' : 'false',
      onClick: () => apply({...f, status: value})}, h('span', {class: 'count-label'}, label), h('span', {class: 'count-n'}, n === null ? '' : num(n)));
    keepFocus(countsBar, () => clear(countsBar, btn('', 'All', total), STATUSES.map((s) => btn(s, statusLabel(s), counts[s] || 0))));
  }

  function renderStatusButtonsWithoutCounts() {
    keepFocus(countsBar, () => clear(countsBar, h('button', {type: 'button', class: 'count', 'aria-pressed': f.status === '' ? 'true' : 'false', onClick: () => apply({...f, status: ''})}, 'All'),
      STATUSES.map((s) => h('button', {type: 'button', class: ['count', `st-${s}`], 'aria-pressed': f.status === s ? 'true' : 'false', onClick: () => apply({...f, status: s})}, statusLabel(s)))));
  }

  function row(inst, i) {
    const link = h('a', {href: instancePath(inst.instanceId), class: 'row-link', tabindex: '-1'}, inst.instanceId);
    const note = inst.failure ? h('span', {class: 'err'}, failureText(inst.failure))
      : inst.status === 'COMPLETED' ? h('span', {class: 'muted'}, `→ ${preview(inst.output, 100)}`)
      : !isNull(inst.customStatus) ? h('span', {}, preview(inst.customStatus, 100))
      : !isFinished(inst.status) && waitingSummary(inst) ? h('span', {}, `Waiting on ${waitingSummary(inst)}`) : '';
    const tr = h('tr', {tabindex: i === 0 ? '0' : '-1', 'data-id': inst.instanceId, 'aria-label': `${inst.instanceId}, ${inst.workflowName}, ${statusLabel(inst.status)}`},
      h('td', {class: 'mono'}, link),
      h('td', {}, inst.workflowName),
      h('td', {}, badge(inst.status)),
      h('td', {title: isoTitle(inst.createdAt)}, h('time', {datetime: inst.createdAt}, fmtTime(inst.createdAt))),
      h('td', {}, isFinished(inst.status) ? fmtDuration(between(inst.createdAt, inst.completedAt)) : `${fmtDuration(between(inst.createdAt))} so far`),
      h('td', {class: 'note'}, note));
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a')) return;
      ctx.navigate(instancePath(inst.instanceId));
    });
    return tr;
  }

  tbody.addEventListener('keydown', (ev) => {
    const tr = ev.target.closest('tr');
    if (!tr) return;
    const rows = [...tbody.rows];
    let k = rows.indexOf(tr);
    if (ev.key === 'ArrowDown') k = Math.min(rows.length - 1, k + 1);
    else if (ev.key === 'ArrowUp') k = Math.max(0, k - 1);
    else if (ev.key === 'Home') k = 0;
    else if (ev.key === 'End') k = rows.length - 1;
    else if (ev.key === 'Enter' && tr.dataset.id) {
      ev.preventDefault();
      ctx.navigate(instancePath(tr.dataset.id));
      return;
    } else return;
    ev.preventDefault();
    for (const r of rows) r.tabIndex = -1;
    rows[k].tabIndex = 0;
    rows[k].focus();
  });

  async function load(userAction = false) {
    clearTimeout(timer);
    const af = apiFilter(f);
    const started = performance.now();
    try {
      const [page, counts] = await Promise.all([
        api.list(af, token, f.pageSize, abort.signal),
        countsOK ? api.counts(af, abort.signal).catch((err) => {
          if (err instanceof ApiError && (err.status === 404 || err.status === 405)) countsOK = false;
          return null;
        }) : null,
      ]);
      if (closed) return;
      clear(errorBox);
      if (counts && counts.counts) renderCounts(counts.counts);
      else if (!countsBar.childElementCount) renderStatusButtonsWithoutCounts();
      const json = JSON.stringify(page);
      if (json !== lastJSON) {
        lastJSON = json;
        nextToken = page.nextPageToken || '';
        renderRows(page.instances || []);
      }
      const ms = Math.round(performance.now() - started);
      status.dataset.ms = String(ms);
      const n = (page.instances || []).length;
      status.textContent = n ? `Showing ${num(n)} instance${n === 1 ? '' : 's'}${tokens.length ? ` (page ${tokens.length + 1})` : ''}, newest first. Updated ${fmtTime(new Date(), {date: false})}.` : '';
    } catch (err) {
      if (err.name === 'AbortError' || closed) return;
      clear(errorBox, h('div', {class: 'alert alert-error', role: 'alert'}, `Could not list the instances: ${err instanceof ApiError ? err.describe() : err.message}`));
    }
    if (userAction) {
      const first = tbody.rows[0];
      if (first) first.focus();
    }
    schedule(REFRESH_MS);
  }

  function renderRows(list) {
    const focusedId = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.closest('tr').dataset.id : null;
    if (!list.length) {
      clear(tbody, h('tr', {}, h('td', {colspan: 6, class: 'empty'}, 'No instances match these filters. ',
        h('button', {type: 'button', class: 'btn btn-small', onClick: async () => {
          const inst = await startDialog({name: f.name});
          if (inst && inst.instanceId) ctx.navigate(instancePath(inst.instanceId));
        }}, 'Start a workflow…'))));
    } else {
      clear(tbody, list.map(row));
    }
    prevBtn.disabled = !tokens.length;
    nextBtn.disabled = !nextToken;
    pageInfo.textContent = `Page ${tokens.length + 1}`;
    if (focusedId) {
      const tr = [...tbody.rows].find((r) => r.dataset.id === focusedId);
      if (tr) {
        for (const r of tbody.rows) r.tabIndex = -1;
        tr.tabIndex = 0;
        tr.focus();
      }
    }
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (closed || !live.checked) return;
    timer = setTimeout(() => {
      if (document.hidden) schedule(REFRESH_MS);
      else load();
    }, ms);
  }

  load();
  return () => {
    closed = true;
    abort.abort();
    clearTimeout(timer);
  };
}
