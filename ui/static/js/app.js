// Entry point: the router (History API: / and /instances/{id}), toasts,
// and the header's "Start workflow" action.

import {h, clear} from './dom.js';
import {TITLE, ApiError, instancePath} from './api.js';
import {startDialog} from './dialogs.js';
import {mountList} from './list.js';
import {mountInstance} from './instance.js';

const main = document.getElementById('main');
let cleanup = null;

// navigate shows path (with its query) and records it in the history.
export function navigate(path, {replace = false, state = null} = {}) {
  if (replace) history.replaceState(state, '', path);
  else history.pushState(state, '', path);
  route();
}

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const url = new URL(location.href);
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const ctx = {url, navigate, notify, setTitle};
  clear(main);
  let m;
  if (path === '/' || path === '/instances') {
    cleanup = mountList(main, ctx);
  } else if ((m = path.match(/^\/instances\/([^/]+)$/))) {
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = m[1];
    }
    cleanup = mountInstance(main, ctx, id, url.searchParams.get('run') || '');
  } else {
    setTitle('Not found');
    main.append(h('h1', {tabindex: '-1'}, 'Page not found'),
      h('p', {}, 'There is no page at ', h('code', {}, url.pathname), '. ', h('a', {href: '/', 'data-nav': ''}, 'Go to the instances'), '.'));
  }
  updateNav(path);
  focusHeading();
}

function updateNav(path) {
  for (const a of document.querySelectorAll('nav a[data-nav]')) {
    if (a.getAttribute('href') === '/' && (path === '/' || path.startsWith('/instances'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

let firstRoute = true;

// focusHeading moves focus to the new page's heading after a navigation,
// so that screen readers announce it and Tab starts from the page.
function focusHeading() {
  if (firstRoute) {
    firstRoute = false;
    return;
  }
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({preventScroll: true});
  }
  window.scrollTo(0, 0);
}

function setTitle(t) {
  document.title = t ? `${t} · ${TITLE}` : TITLE;
}

// notify shows a message in the toast area (announced politely; errors
// assertively).
export function notify(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const close = h('button', {type: 'button', class: 'toast-close', 'aria-label': 'Dismiss'}, '×');
  const text = message instanceof ApiError ? message.describe() : message instanceof Error ? message.message : message;
  const t = h('div', {class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : null}, h('span', {}, text), close);
  close.addEventListener('click', () => t.remove());
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 15000 : 5000);
}

// Links marked data-nav (and any same-origin link inside main) navigate
// without reloading the page.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  if (a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  ev.preventDefault();
  if (url.href !== location.href) navigate(url.pathname + url.search + url.hash);
});

window.addEventListener('popstate', route);

document.getElementById('start-workflow').addEventListener('click', async () => {
  const inst = await startDialog();
  if (inst && inst.instanceId) {
    notify(`Started ${inst.instanceId} (${inst.workflowName}).`, 'success');
    navigate(instancePath(inst.instanceId));
  }
});

route();
