// Modal dialogs (native <dialog>: focus stays inside, Escape closes, focus
// returns to the control that opened it) and the action forms built on
// them: start a workflow, raise an event, terminate, purge.

import {h, field, uid} from './dom.js';
import {api, ApiError} from './api.js';

// openDialog shows a modal form. onSubmit(form) runs on submit; when it
// throws, the error is shown in the dialog and the dialog stays open. The
// promise resolves with onSubmit's result, or undefined when cancelled.
export function openDialog({title, description, fields = [], submitLabel = 'OK', danger = false, onSubmit}) {
  const opener = document.activeElement;
  const titleId = uid('dlg-title');
  const descId = uid('dlg-desc');
  const error = h('div', {class: 'form-error', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', class: ['btn', danger ? 'btn-danger' : 'btn-primary']}, submitLabel);
  const cancel = h('button', {type: 'button', class: 'btn', value: 'cancel'}, 'Cancel');
  const form = h('form', {method: 'dialog', novalidate: true},
    h('h2', {id: titleId}, title),
    description ? h('div', {id: descId, class: 'dialog-desc'}, description) : null,
    fields,
    error,
    h('div', {class: 'dialog-actions'}, cancel, submit));
  const dlg = h('dialog', {class: 'dialog', 'aria-labelledby': titleId, 'aria-describedby': description ? descId : null}, form);
  document.body.append(dlg);

  return new Promise((resolve) => {
    let result;
    const close = () => dlg.close();
    cancel.addEventListener('click', close);
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(result);
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      form.setAttribute('aria-busy', 'true');
      try {
        result = await onSubmit(form);
        if (result === undefined) result = true;
        close();
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.describe() : err.message;
        error.hidden = false;
        const bad = err.field && form.elements[err.field];
        if (bad) {
          bad.setAttribute('aria-invalid', 'true');
          bad.focus();
        }
      } finally {
        submit.disabled = false;
        form.removeAttribute('aria-busy');
      }
    });
    dlg.showModal();
    const first = form.querySelector('input, textarea, select');
    (first || submit).focus();
  });
}

// parseJSONField reads an optional JSON text field: undefined when empty.
function parseJSONField(form, name, what) {
  const el = form.elements[name];
  el.removeAttribute('aria-invalid');
  const text = el.value.trim();
  if (!text) return undefined;
  try {
    JSON.parse(text);
  } catch (err) {
    const e = new Error(`${what} is not valid JSON: ${err.message}. Strings need quotes: "Jane".`);
    e.field = name;
    throw e;
  }
  return text;
}

function required(form, name, what) {
  const el = form.elements[name];
  el.removeAttribute('aria-invalid');
  const v = el.value.trim();
  if (!v) {
    const e = new Error(`${what} is required.`);
    e.field = name;
    throw e;
  }
  return v;
}

let knownWorkflows = null;

async function workflowNames() {
  if (!knownWorkflows) {
    try {
      const res = await api.workflows();
      knownWorkflows = res.workflows || [];
    } catch {
      knownWorkflows = [];
    }
  }
  return knownWorkflows;
}

// startDialog starts a workflow; it resolves with the new instance.
export async function startDialog({name = '', id = '', input = ''} = {}) {
  const names = await workflowNames();
  const listId = uid('wf-names');
  const nameInput = h('input', {name: 'workflowName', type: 'text', value: name, required: true, list: listId,
    autocomplete: 'off', spellcheck: 'false'});
  const datalist = h('datalist', {id: listId}, names.map((n) => h('option', {value: n})));
  return openDialog({
    title: 'Start a workflow',
    submitLabel: 'Start',
    fields: [
      field('Workflow name', nameInput, names.length ? `Registered: ${names.join(', ')}` : 'The name the workflow is registered under.'),
      datalist,
      field('Instance ID (optional)', h('input', {name: 'instanceId', type: 'text', value: id, autocomplete: 'off', spellcheck: 'false'}),
        'Leave empty to generate one. Starting the ID of a finished instance starts a new run.'),
      field('Input (JSON)', h('textarea', {name: 'input', rows: 6, spellcheck: 'false', class: 'mono', value: input}),
        'Any JSON value: {"item": "paperclips"}, 42, "text". Empty for none.'),
    ],
    onSubmit: async (form) => {
      const req = {workflowName: required(form, 'workflowName', 'The workflow name')};
      const iid = form.elements.instanceId.value.trim();
      if (iid) req.instanceId = iid;
      const text = parseJSONField(form, 'input', 'The input');
      if (text !== undefined) req.input = JSON.parse(text);
      return api.start(req);
    },
  });
}

// raiseDialog raises an event on an instance.
export function raiseDialog(id, {name = '', data = ''} = {}) {
  return openDialog({
    title: 'Raise an event',
    description: h('p', {}, 'Send an event to ', h('code', {}, id), '. Events it does not wait for yet are kept, in order.'),
    submitLabel: 'Raise event',
    fields: [
      field('Event name', h('input', {name: 'eventName', type: 'text', value: name, required: true, autocomplete: 'off', spellcheck: 'false'})),
      field('Event data (JSON)', h('textarea', {name: 'data', rows: 5, spellcheck: 'false', class: 'mono', value: data}),
        'Any JSON value, e.g. {"approver": "Jane Doe"}. Empty for none.'),
    ],
    onSubmit: async (form) => {
      const ev = required(form, 'eventName', 'The event name');
      const text = parseJSONField(form, 'data', 'The event data');
      await api.raise(id, ev, text);
      return ev;
    },
  });
}

// terminateDialog asks for confirmation and a reason, then terminates.
export function terminateDialog(id) {
  return openDialog({
    title: `Terminate ${id}?`,
    description: h('p', {}, 'The instance and its running children stop at their next step and end ',
      h('strong', {}, 'TERMINATED'), '. Running activities are not undone. This cannot be reversed.'),
    submitLabel: 'Terminate',
    danger: true,
    fields: [field('Reason (optional)', h('input', {name: 'reason', type: 'text', autocomplete: 'off'}), 'Recorded in the history and the failure message.')],
    onSubmit: async (form) => {
      await api.terminate(id, form.elements.reason.value.trim());
    },
  });
}

// suspendDialog asks for an optional reason, then suspends.
export function suspendDialog(id) {
  return openDialog({
    title: `Suspend ${id}`,
    description: h('p', {}, 'The instance stops after its current step until it is resumed. Timers and events that arrive meanwhile are kept.'),
    submitLabel: 'Suspend',
    fields: [field('Reason (optional)', h('input', {name: 'reason', type: 'text', autocomplete: 'off'}))],
    onSubmit: async (form) => {
      await api.suspend(id, form.elements.reason.value.trim());
    },
  });
}

// purgeDialog asks for confirmation, then purges a finished instance.
export function purgeDialog(id) {
  return openDialog({
    title: `Purge ${id}?`,
    description: h('p', {}, 'Purging deletes every run of ', h('code', {}, id),
      ', its history and its pending events from the store. This cannot be undone.'),
    submitLabel: 'Purge',
    danger: true,
    onSubmit: async () => api.purge(id),
  });
}
