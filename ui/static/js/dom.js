// DOM helpers: elements are built with the DOM API only (textContent, never
// innerHTML), so that no payload can inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'value' && 'value' in el && !(el instanceof SVGElement)) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden' || k === 'required') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h('div', {class: 'x', onClick: f}, child, 'text', [more]) builds an element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs instanceof Node || typeof attrs !== 'object' || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = null;
  }
  apply(el, attrs);
  append(el, children);
  return el;
}

// s('rect', {x: 1}) builds an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

// clear empties el and appends children.
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// uid returns a page-unique id for label/aria references.
let counter = 0;
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

// field builds a labelled form control: a label, the control, and a hint.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const parts = [h('label', {for: id}, label), control];
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('p', {class: 'hint', id: hid}, hint));
  }
  return h('div', {class: 'field'}, parts);
}

// visuallyHidden text for screen readers only.
export function srOnly(text) {
  return h('span', {class: 'sr-only'}, text);
}

// keepFocus runs render (which replaces el's content) and gives focus
// back to the control with the same text, if one had it.
export function keepFocus(el, render) {
  const a = document.activeElement;
  const had = a && el.contains(a) ? a.textContent : null;
  render();
  if (had === null) return;
  const same = [...el.querySelectorAll('button, a, input, select')].find((x) => x.textContent === had && !x.disabled);
  if (same) same.focus();
}
