// Building the page's elements. Text always goes in as text (text nodes, `textContent`, attribute values), never as
// HTML: whatever users, models and tools wrote shows literally and runs nothing (WebPageTests checks that no file
// parses a string as markup or code).

/** An element: `props` are attributes (`on…` functions become listeners), `children` strings or nodes. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'value') element.value = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  return append(element, children);
}

/** Appends strings (as text) and nodes; null, undefined and false are skipped. */
export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A labelled control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), control, hint ? h('small', {}, hint) : null);
}

/** A message in the page: `error` (announced at once), `info` or `empty`. */
export function notice(kind, text) {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** An RFC 3339 time as local `YYYY-MM-DD HH:MM:SS`. */
export function time(text) {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text ?? '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `value` as compact JSON for a `<pre>`, strings unquoted. */
export function shown(value) {
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

/** A thread's id in a link of the page. */
export const threadLink = (view, id, suffix = '') => `#/${view}/${encodeURIComponent(id)}${suffix}`;

/** `1 step`, `2 steps`. */
export const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
