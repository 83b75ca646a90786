// Two threads side by side, aligned by step: what they share, where they part and why, and what each cost.
import { get } from './api.js';
import { count, h, threadLink } from './dom.js';

export async function render(main, { args, signal }) {
  const [a, b] = args;
  const diff = await get(`/v1/threads/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}`, { signal });
  const rows = Math.max(diff.a.steps.length, diff.b.steps.length);
  const table = h('table', { id: 'diff', class: 'grid' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'step'),
      h('th', { scope: 'col' }, h('a', { href: threadLink('timeline', a) }, a)),
      h('th', { scope: 'col' }, h('a', { href: threadLink('timeline', b) }, b)))));
  const body = h('tbody');
  for (let i = 0; i < rows; i += 1) {
    const [left, right] = [diff.a.steps[i], diff.b.steps[i]];
    const cell = (step) => h('td', {}, step ? [h('b', {}, step.kind), ' ', step.summary, h('small', {}, ` seq ${step.seq}`)] : '—');
    const kind = i < diff.shared ? 'shared' : i === diff.firstDivergence ? 'diverges' : 'apart';
    body.append(h('tr', { class: kind }, h('th', { scope: 'row' }, i), cell(left), cell(right)));
  }
  table.append(body);
  const totals = (side) => `${side.threadID}: ${count(side.steps.length, 'step')}, `
    + `${side.inputTokens}+${side.outputTokens} tokens, ${count(side.toolCalls, 'tool call')}, ${count(side.denials, 'denial')}`;
  main.append(
    h('h1', {}, `${a} and ${b}`),
    h('p', { id: 'diff-summary' }, diff.firstDivergence === null || diff.firstDivergence === undefined
      ? `The same ${diff.shared} steps.`
      : `They share ${diff.shared} steps and part at step ${diff.firstDivergence} (${diff.aspect}): ${diff.detail}`),
    h('ul', {}, h('li', {}, totals(diff.a)), h('li', {}, totals(diff.b))),
    table);
}
