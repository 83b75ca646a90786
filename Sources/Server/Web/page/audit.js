// The audit trail: filters, a page at a time, each entry linked to its thread at its event, and the export of the
// current filter as CSV or NDJSON.
import { download, explain, get, query } from './api.js';
import { field, h, notice, threadLink, time } from './dom.js';

const kinds = ['', 'authorization', 'configuration', 'toolCall', 'llmCall'];

export async function render(main, { parameters, signal }) {
  const input = (name, props = {}) => h('input', { id: `audit-${name}`, name, value: parameters.get(name) ?? '', ...props });
  const select = (name, options) => {
    const s = h('select', { id: `audit-${name}`, name },
      options.map((o) => h('option', { value: o }, o === '' ? 'any' : o)));
    s.value = parameters.get(name) ?? options[0];
    return s;
  };
  const local = (name) => {
    const value = parameters.get(name);
    return input(name, { type: 'datetime-local', step: 1, value: value ? toLocal(value) : '' });
  };
  const controls = {
    actor: input('actor', { placeholder: 'user:alice' }),
    workspace: input('workspace', { placeholder: 'yours' }),
    action: input('action', { placeholder: 'tool.call' }),
    resource: input('resource', { placeholder: 'prefix, e.g. tool:k8s/' }),
    decision: select('decision', ['', 'allow', 'deny']),
    kind: select('kind', kinds),
    from: local('from'),
    through: local('through'),
    order: select('order', ['newest', 'oldest']),
  };
  const form = h('form', { id: 'audit-filters', class: 'panel filters' },
    Object.entries(controls).map(([name, control]) => field(name, control)),
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'audit-search' }, 'Search'),
      h('button', { type: 'button', id: 'export-csv' }, 'Export CSV'),
      h('button', { type: 'button', id: 'export-ndjson' }, 'Export NDJSON')));
  const results = h('div', { id: 'audit-results' });
  main.append(h('h1', {}, 'Audit trail'), form, results);

  /** The filters as the API's parameters (times as RFC 3339). */
  const filters = () => {
    const p = {};
    for (const [name, control] of Object.entries(controls)) {
      if (control.value === '') continue;
      p[name] = control.type === 'datetime-local' ? new Date(control.value).toISOString() : control.value.trim();
    }
    return p;
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/audit${query(filters())}`;
  });
  for (const format of ['csv', 'ndjson']) {
    document.getElementById(`export-${format}`).addEventListener('click', () => {
      download(`/v1/audit/export${query({ ...filters(), format })}`, `audit.${format}`)
        .catch((error) => results.prepend(notice('error', explain(error))));
    });
  }

  const table = h('table', { id: 'audit-table', class: 'grid' },
    h('thead', {}, h('tr', {}, ['seq', 'time', 'actor', 'action', 'resource', 'decision', 'reason', 'thread']
      .map((c) => h('th', { scope: 'col' }, c)))));
  const body = h('tbody');
  table.append(body);
  const more = h('button', { type: 'button', id: 'audit-more', hidden: true }, 'More');
  results.append(table, more);
  let cursor = null;
  async function page() {
    const answer = await get(`/v1/audit${query({ ...filters(), limit: 50, cursor })}`, { signal });
    for (const e of answer.entries) {
      body.append(h('tr', { class: e.decision === 'deny' ? 'deny' : '' },
        h('td', {}, e.seq), h('td', {}, time(e.time)), h('td', {}, e.actor), h('td', {}, e.action),
        h('td', {}, e.resource), h('td', {}, e.decision ? h('span', { class: `badge ${e.decision}` }, e.decision) : e.kind),
        h('td', {}, e.reason),
        h('td', {}, e.thread ? h('a', { href: threadLink('timeline', e.thread, `?at=${e.seq}`) }, e.thread) : '')));
    }
    cursor = answer.entries.length === 0 ? null : answer.next ?? null;
    more.hidden = cursor === null;
    if (body.childElementCount === 0) results.prepend(notice('empty', 'No entry matches these filters.'));
  }
  more.addEventListener('click', () => page().catch((error) => results.append(notice('error', explain(error)))));
  await page();
}

/** An RFC 3339 time as a `datetime-local` value (local time). */
function toLocal(text) {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
