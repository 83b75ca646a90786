// The debugging view of one thread: every event in order, each run's steps as a waterfall, a step control that shows
// the thread as of any seq (with the model in force then and why), and from there fork, replay, counterfactual, diff.
import { ApiError, explain, get, query, send } from './api.js';
import { count, field, h, notice, shown, threadLink, time } from './dom.js';
import { threadEvents } from './chat.js';

/** What an effective model's `source` means. */
export const sources = {
  workspaceOverride: 'the workspace\'s override', organizationDefault: 'the organization\'s default', unset: 'no model is set',
};

export async function render(main, { args, parameters, signal }) {
  const threadID = args[0];
  const events = [];
  for await (const event of threadEvents(threadID, signal)) events.push(event);
  main.append(h('header', { class: 'pane-head' },
    h('h1', {}, `Timeline of ${threadID}`),
    h('a', { href: threadLink('chat', threadID) }, 'Back to the chat')));
  if (events.length === 0) {
    main.append(notice('empty', 'This thread has no events yet.'));
    return;
  }
  const workspace = events.find((e) => e.workspace)?.workspace;
  const seqs = events.map((e) => e.seq);
  const requested = Number(parameters.get('at'));
  let index = seqs.length - 1;
  if (requested > 0) index = Math.max(0, seqs.findLastIndex((seq) => seq <= requested));

  const slider = h('input', {
    type: 'range', id: 'step', min: 0, max: seqs.length - 1, value: index, 'aria-label': 'Step: the thread as of this event',
  });
  const label = h('output', { id: 'step-label', for: 'step' });
  const earlier = h('button', { type: 'button', id: 'step-earlier', title: 'Earlier (←)' }, '← Earlier');
  const later = h('button', { type: 'button', id: 'step-later', title: 'Later (→)' }, 'Later →');
  const asOf = h('section', { id: 'as-of', class: 'panel', 'aria-live': 'polite' });
  const list = h('ol', { id: 'events', class: 'events' });
  const actions = h('section', { id: 'actions', class: 'panel' });
  for (const event of events) list.append(eventItem(event));

  main.append(
    h('section', { class: 'panel stepper' }, h('div', { class: 'row' }, earlier, slider, later), label,
      h('p', { class: 'hint' }, 'Arrow keys move one event; Home and End go to the first and the last.')),
    h('div', { class: 'timeline' },
      h('div', {}, h('h2', {}, 'Events'), list),
      h('div', {}, asOf, actions, waterfall(events))));

  let pending;
  function move(to, immediately = false) {
    index = Math.min(seqs.length - 1, Math.max(0, to));
    slider.value = index;
    const seq = seqs[index];
    label.textContent = `As of seq ${seq} (${time(events[index].time)}), event ${index + 1} of ${seqs.length}`;
    for (const item of list.children) item.classList.toggle('later', Number(item.dataset.seq) > seq);
    list.children[index].classList.add('current');
    for (const item of list.querySelectorAll('.current')) {
      if (item !== list.children[index]) item.classList.remove('current');
    }
    history.replaceState(null, '', threadLink('timeline', threadID, `?at=${seq}`));
    clearTimeout(pending);
    pending = setTimeout(() => showAsOf(seq).catch((error) => {
      if (error.name !== 'AbortError') asOf.replaceChildren(notice('error', explain(error)));
    }), immediately ? 0 : 150);
    renderActions(seq);
  }

  let shownSeq = null;
  async function showAsOf(seq) {
    shownSeq = seq;
    let detail;
    try {
      detail = await get(`/v1/threads/${encodeURIComponent(threadID)}${query({ at: seq })}`, { signal });
    } catch (error) {
      // Before its `thread.started` (the decision that allowed it comes first) the thread does not exist yet.
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
      detail = { messages: [], runs: [], missing: true };
    }
    let model;
    try {
      model = await get(`/v1/workspaces/${encodeURIComponent(workspace)}/effective-model${query({ at: seq })}`,
        { signal });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 403) throw error;
      model = null;
    }
    if (shownSeq !== seq) return; // the step moved on while this one was asked for
    asOf.replaceChildren(
      h('h2', { id: 'as-of-seq', 'data-seq': seq }, `The thread as of seq ${seq}`),
      h('p', { id: 'as-of-messages' }, `${count(detail.messages.length, 'message')}, ${count(detail.runs.length, 'run')}`,
        detail.missing ? ': the thread starts after this event' : ''),
      h('ul', { class: 'compact' }, detail.messages.map((m) =>
        h('li', { 'data-seq': m.seq }, `seq ${m.seq}: ${m.kind}${m.label ? ` (${m.label})` : ''}`))),
      h('h3', {}, 'Runs'),
      detail.runs.length === 0 ? h('p', {}, 'None yet.') : h('ul', { class: 'compact' }, detail.runs.map((r) =>
        h('li', {}, `${r.agent} on ${r.model}: ${r.status}, ${count(r.steps, 'step')}, ${r.inputTokens}+${r.outputTokens} tokens`))),
      h('h3', {}, 'Effective model'),
      model === null
        ? h('p', {}, 'Your roles do not read the registry (registry.read).')
        : h('div', { id: 'effective-model' },
          h('p', {}, h('b', { id: 'effective-model-name' }, model.model ?? 'none'), ` (${sources[model.source] ?? model.source})`,
            model.problem ? ` — ${model.problem}` : ''),
          model.provenance?.length
            ? h('p', { class: 'hint' }, `Decided by the registry changes at seq ${model.provenance.join(', ')}.`)
            : null));
  }

  function renderActions(seq) {
    const continuation = h('input', {
      id: 'fork-text', class: 'wide', placeholder: 'Continue the fork with a message (optional)',
    });
    const forkResult = h('div', { id: 'fork-result' });
    const fork = h('form', { id: 'fork', class: 'row' }, field(`Fork at seq ${seq}`, continuation),
      h('button', { type: 'submit' }, 'Fork'), forkResult);
    fork.addEventListener('submit', async (event) => {
      event.preventDefault();
      forkResult.replaceChildren(notice('info', 'Forking…'));
      try {
        const body = { at: seq };
        if (continuation.value.trim()) body.text = continuation.value.trim();
        const forked = await send('POST', `/v1/threads/${encodeURIComponent(threadID)}/fork`, body);
        forkResult.replaceChildren(h('p', {}, 'Forked into ',
          h('a', { href: threadLink('timeline', forked.threadID), id: 'fork-link' }, forked.threadID), ' · ',
          h('a', { href: `#/diff/${encodeURIComponent(threadID)}/${encodeURIComponent(forked.threadID)}` },
            'diff with this thread')));
      } catch (error) { forkResult.replaceChildren(notice('error', explain(error))); }
    });

    const replayResult = h('div', { id: 'replay-result' });
    const replay = h('button', { type: 'button', id: 'replay' }, 'Replay against the recording');
    replay.addEventListener('click', async () => {
      replayResult.replaceChildren(notice('info', 'Replaying…'));
      try {
        const report = await send('POST', `/v1/threads/${encodeURIComponent(threadID)}/replay`);
        replayResult.replaceChildren(replayReport(report));
      } catch (error) { replayResult.replaceChildren(notice('error', explain(error))); }
    });

    const kind = h('select', { id: 'cf-kind' },
      h('option', { value: 'instructions' }, 'instructions'), h('option', { value: 'model' }, 'model'),
      h('option', { value: 'policy' }, 'policy (JSON roles)'));
    const value = h('textarea', { id: 'cf-value', rows: 2 });
    const liveFrom = h('input', { id: 'cf-step', type: 'number', min: 0, placeholder: 'all recorded' });
    const cfResult = h('div', { id: 'cf-result' });
    const counterfactual = h('form', { id: 'counterfactual' },
      h('div', { class: 'row' }, field('Change', kind), field('To', value), field('Live from step', liveFrom)),
      h('button', { type: 'submit' }, 'Run the counterfactual'), cfResult);
    counterfactual.addEventListener('submit', async (event) => {
      event.preventDefault();
      const substitution = {};
      try {
        substitution[kind.value] = kind.value === 'policy' ? JSON.parse(value.value) : value.value;
      } catch {
        cfResult.replaceChildren(notice('error', 'The policy must be JSON: {"roles": {"operator": ["chat"]}}.'));
        return;
      }
      if (liveFrom.value !== '') substitution.liveFrom = Number(liveFrom.value);
      cfResult.replaceChildren(notice('info', 'Running…'));
      try {
        const result = await send('POST', `/v1/threads/${encodeURIComponent(threadID)}/replay`,
          { mode: 'counterfactual', substitution });
        cfResult.replaceChildren(h('p', {}, 'Into ',
          h('a', { href: threadLink('timeline', result.threadID) }, result.threadID), ' · ',
          h('a', { href: `#/diff/${encodeURIComponent(threadID)}/${encodeURIComponent(result.threadID)}` },
            'diff with this thread')), h('pre', {}, shown(result)));
      } catch (error) { cfResult.replaceChildren(notice('error', explain(error))); }
    });

    const other = h('input', { id: 'diff-other', placeholder: 'another thread id', required: true });
    const diff = h('form', { id: 'diff-form', class: 'row' }, field('Diff with', other),
      h('button', { type: 'submit' }, 'Diff'));
    diff.addEventListener('submit', (event) => {
      event.preventDefault();
      location.hash = `#/diff/${encodeURIComponent(threadID)}/${encodeURIComponent(other.value.trim())}`;
    });

    actions.replaceChildren(h('h2', {}, 'Debug'), fork, h('div', { class: 'row' }, replay), replayResult,
      h('h3', {}, 'Counterfactual: the last run again with one change'), counterfactual, diff);
  }

  slider.addEventListener('input', () => move(Number(slider.value)));
  earlier.addEventListener('click', () => move(index - 1));
  later.addEventListener('click', () => move(index + 1));
  list.addEventListener('click', (event) => {
    const item = event.target.closest('li[data-seq]');
    if (item) move(seqs.indexOf(Number(item.dataset.seq)));
  });
  move(index, true);
  slider.focus();
}

function replayReport(report) {
  const d = report.divergence;
  return h('div', { id: 'replay-report' },
    h('p', {}, `${count(report.runsReplayed, 'run')} replayed, ${count(report.stepsMatched, 'step')} matched`,
      report.runsSkipped ? `, ${report.runsSkipped} skipped` : '', '.'),
    d
      ? h('div', { class: 'notice error' }, h('p', {}, `Diverged in run ${d.runID} at step ${d.index} (${d.aspect}): ${d.detail}`),
        h('p', {}, `recorded: ${d.recorded ? `${d.recorded.kind} ${d.recorded.summary}` : 'nothing'}`),
        h('p', {}, `replayed: ${d.replayed ? `${d.replayed.kind} ${d.replayed.summary}` : 'nothing'}`))
      : h('p', { class: 'notice info' }, 'No divergence: the replay matches the recording.'));
}

/** One event of the list: seq, time, type, actor and what it says. */
function eventItem(event) {
  const d = event.data ?? {};
  const detail = (() => {
    switch (event.type) {
      case 'message.user': case 'message.assistant': return h('p', { class: 'text' }, d.text);
      case 'llm.request':
        return h('p', {}, `${d.model} via ${d.provider}, step ${d.step}, ${count(d.promptSeqs?.length ?? 0, 'message')} in the prompt`);
      case 'llm.response':
        return h('p', {}, `${d.model}: ${d.inputTokens}+${d.outputTokens} tokens, ${d.latencyMilliseconds} ms, `
          + `${d.finishReason}`, d.toolCalls?.length ? ` → ${d.toolCalls.map((c) => c.name).join(', ')}` : '');
      case 'tool.called': return h('p', {}, h('code', {}, `${d.server}/${d.tool}(${d.arguments})`));
      case 'tool.result':
        return h('div', {}, h('p', {}, `${d.isError ? 'failed' : 'answered'} in ${d.latencyMilliseconds} ms`),
          h('pre', {}, (d.output ?? '').slice(0, 2000)));
      case 'authz.decided':
        return h('p', {}, h('span', { class: `badge ${d.decision}` }, d.decision),
          ` ${d.subject}: ${d.action} on ${d.resource} — ${d.rule ?? d.reason}`,
          d.policyVersion ? ` (policy version ${d.policyVersion})` : '');
      case 'thread.started':
        return h('p', {}, `in ${d.workspace}, owned by ${d.owner}${d.agent ? `, agent ${d.agent}` : ''}`
          + `${d.title ? `: ${d.title}` : ''}`);
      case 'thread.forked':
        return h('p', {}, `from `, h('a', { href: threadLink('timeline', d.fromThreadID, `?at=${d.atSeq}`) }, d.fromThreadID),
          ` at seq ${d.atSeq}${d.substitution ? `, with ${d.substitution}` : ''}`);
      case 'run.started': return h('p', {}, `${d.agent} on ${d.model}${d.parentRunID ? ' (delegated)' : ''}`);
      case 'run.finished': return h('p', {}, `${d.status}, ${count(d.steps, 'step')}`);
      default: return h('pre', {}, shown(d));
    }
  })();
  return h('li', { 'data-seq': event.seq, class: event.type.replace(/\./g, '-') },
    h('div', { class: 'event-head' }, h('span', { class: 'seq' }, event.seq), h('b', {}, event.type),
      h('span', { class: 'actor' }, event.actor ?? ''), h('time', { datetime: event.time }, time(event.time))),
    detail);
}

/** Each run's steps by time and duration: model calls and tool calls as bars on the run's span. */
function waterfall(events) {
  const runs = new Map();
  const started = new Map();
  for (const event of events) {
    const d = event.data ?? {};
    const at = Date.parse(event.time);
    if (event.type === 'run.started') runs.set(d.runID, { agent: d.agent, start: at, end: at, steps: [] });
    const run = runs.get(d.runID);
    if (!run) continue;
    run.end = Math.max(run.end, at);
    if (event.type === 'llm.request') started.set(`llm:${d.runID}:${d.step}`, at);
    if (event.type === 'tool.called') started.set(`tool:${d.callID}`, at);
    if (event.type === 'llm.response') {
      const begin = started.get(`llm:${d.runID}:${d.step}`) ?? at - d.latencyMilliseconds;
      run.steps.push({ kind: 'model', label: `${d.model} step ${d.step}`, begin, ms: d.latencyMilliseconds, seq: event.seq });
    }
    if (event.type === 'tool.result') {
      const begin = started.get(`tool:${d.callID}`) ?? at - d.latencyMilliseconds;
      run.steps.push({ kind: d.isError ? 'tool failed' : 'tool', label: `${d.server}/${d.tool}`, begin, ms: d.latencyMilliseconds, seq: event.seq });
    }
  }
  const section = h('section', { id: 'waterfall', class: 'panel' }, h('h2', {}, 'Runs by duration'));
  if (runs.size === 0) section.append(notice('empty', 'No runs.'));
  for (const [id, run] of runs) {
    const span = Math.max(1, run.end - run.start, ...run.steps.map((s) => s.begin + s.ms - run.start));
    const rows = h('ol', { class: 'bars' });
    for (const step of run.steps) {
      const bar = h('span', { class: `bar ${step.kind.replace(' ', '-')}` });
      bar.style.marginLeft = `${(100 * (step.begin - run.start)) / span}%`;
      bar.style.width = `${Math.max(0.5, (100 * step.ms) / span)}%`;
      rows.append(h('li', { 'data-seq': step.seq }, h('span', { class: 'bar-label' }, `${step.label} · ${step.ms} ms`),
        h('span', { class: 'track' }, bar)));
    }
    section.append(h('h3', {}, `${run.agent} · ${run.end - run.start} ms · run ${id.slice(0, 8)}`), rows);
  }
  return section;
}
