// Chat: the workspace's threads (search, newest first, paged) beside one conversation; the answer streams in, and
// tool calls, their results and refusals show where they happen. Escape cancels a running turn.
import { ApiError, call, explain, frames, get, query } from './api.js';
import { count, field, h, notice, threadLink, time } from './dom.js';

export async function render(main, { args, signal }) {
  const threadID = args[0] ?? null;
  const threads = h('ul', { id: 'threads', class: 'thread-list' });
  const search = h('input', { type: 'search', id: 'thread-search', placeholder: 'Title or message text' });
  const older = h('button', { type: 'button', id: 'threads-older', hidden: true }, 'Older threads');
  const aside = h('aside', { class: 'threads', 'aria-label': 'Threads' },
    h('a', { class: 'button', id: 'new-thread', href: threadLink('chat', newThreadID()) }, 'New thread'),
    h('form', { role: 'search', onsubmit: (e) => { e.preventDefault(); list(true); } },
      field('Search threads', search)),
    threads, older);
  const pane = h('section', { class: 'conversation', 'aria-label': 'Conversation' });
  main.append(h('div', { class: 'chat' }, aside, pane));

  let next = null;
  async function list(reset) {
    const page = await get(`/v1/threads${query({ limit: 25, before: reset ? null : next, q: search.value.trim() })}`,
      { signal });
    if (reset) threads.replaceChildren();
    for (const t of page.threads) {
      threads.append(h('li', {},
        h('a', { href: threadLink('chat', t.id), 'aria-current': t.id === threadID ? 'page' : null },
          t.title ?? t.id),
        h('small', {}, `${time(t.lastActivity)} · ${count(t.messageCount, 'message')} · ${t.owner}`)));
    }
    next = page.next;
    older.hidden = next === null || next === undefined;
    if (reset && page.threads.length === 0) {
      threads.append(h('li', { class: 'empty' },
        search.value.trim() ? 'No thread matches.' : 'No threads yet: start one with “New thread”.'));
    }
  }
  older.addEventListener('click', () => list(false).catch(show));
  let typing;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => list(true).catch(show), 300);
  });
  function show(error) {
    if (error.name !== 'AbortError') aside.append(notice('error', explain(error)));
  }
  const listed = list(true).catch((error) => {
    if (error instanceof ApiError && error.status === 403) {
      threads.replaceChildren(h('li', { class: 'empty' }, 'Your roles do not list threads.'));
    } else show(error);
  });

  if (!threadID) {
    pane.append(notice('empty', 'Choose a thread, or start a new one.'));
    await listed;
    return;
  }
  await conversation(pane, threadID, signal, () => list(true).catch(show));
  await listed;
}

/** A fresh thread id the page proposes (the first message starts the thread). */
function newThreadID() {
  const random = crypto.getRandomValues(new Uint8Array(6));
  return `web-${Array.from(random, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

async function conversation(pane, threadID, signal, changed) {
  const messages = h('ol', { id: 'messages', class: 'messages', 'aria-live': 'polite' });
  const agent = h('select', { id: 'agent' }, h('option', { value: '' }, 'the thread\'s agent'));
  const model = h('select', { id: 'model' }, h('option', { value: '' }, 'the agent\'s'));
  const text = h('textarea', {
    id: 'message', rows: 3, required: true, placeholder: 'Ask something (Ctrl+Enter sends, Escape cancels)',
  });
  const sendButton = h('button', { type: 'submit', id: 'send' }, 'Send');
  const cancelButton = h('button', { type: 'button', id: 'cancel', disabled: true }, 'Cancel');
  const status = h('p', { id: 'chat-status', class: 'status', role: 'status' });
  const form = h('form', { id: 'composer', class: 'composer' },
    field('Message', text),
    h('div', { class: 'row' }, field('Agent', agent), field('Model', model), sendButton, cancelButton), status);
  pane.append(
    h('header', { class: 'pane-head' },
      h('h1', { id: 'thread-title' }, threadID),
      h('a', { href: threadLink('timeline', threadID), id: 'open-timeline' }, 'Timeline and debugging')),
    messages, form);

  get('/v1/registry', { signal }).then((registry) => {
    for (const a of registry.agents) agent.append(h('option', { value: a.name }, a.name));
  }).catch(() => { agent.disabled = true; });
  // The models the caller may use (`model.use`): the server lists only those.
  get('/v1/models', { signal }).then((models) => {
    for (const m of models.data) model.append(h('option', { value: m.id }, m.id));
  }).catch(() => { model.disabled = true; });

  let exists = true;
  try {
    const detail = await get(`/v1/threads/${encodeURIComponent(threadID)}`, { signal });
    document.getElementById('thread-title').textContent = detail.thread.title ?? threadID;
    for await (const event of threadEvents(threadID, signal)) {
      const item = rendered(event.type, event.data, event.seq);
      if (item) messages.append(item);
    }
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    exists = false;
  }
  if (!exists || messages.childElementCount === 0) {
    messages.append(h('li', { class: 'empty' }, 'No messages yet: write the first one below.'));
  }
  messages.lastElementChild?.scrollIntoView({ block: 'end' });

  let turn = null;
  async function sendMessage() {
    const body = text.value.trim();
    if (!body || turn) return;
    messages.querySelector('li.empty')?.remove();
    messages.append(rendered('message.user', { text: body }));
    const answer = h('span', { class: 'text' });
    const pending = h('li', { class: 'assistant streaming', 'aria-busy': 'true' }, h('b', {}, 'agent'), answer);
    messages.append(pending);
    pending.scrollIntoView({ block: 'end' });
    text.value = '';
    turn = new AbortController();
    signal.addEventListener('abort', () => turn?.abort());
    sendButton.disabled = true;
    cancelButton.disabled = false;
    status.textContent = 'The agent is working…';
    try {
      const request = { text: body, stream: true };
      if (agent.value) request.agent = agent.value;
      if (model.value) request.model = model.value;
      const response = await call('POST', `/v1/threads/${encodeURIComponent(threadID)}/messages`, request,
        { signal: turn.signal, accept: 'text/event-stream' });
      for await (const frame of frames(response)) {
        const data = frame.data ? JSON.parse(frame.data) : {};
        if (frame.event === 'text') {
          answer.textContent += data.text;
        } else if (frame.event === 'done') {
          status.textContent = data.status === 'completed'
            ? `Done: ${count(data.steps, 'step')}, ${data.inputTokens}+${data.outputTokens} tokens.`
            : `The run ended ${data.status}.`;
        } else if (frame.event === 'error') {
          pending.after(notice('error', `The run failed: ${data.error?.message ?? 'unknown error'}`));
          status.textContent = 'The run failed.';
        } else if (frame.event === 'message.user') {
          // Shown already, as sent.
        } else if (frame.event === 'run.started') {
          pending.dataset.run = data.runID;
        } else if (frame.event === 'message.assistant') {
          answer.textContent = data.text;
        } else {
          const item = rendered(frame.event, data, Number(frame.id));
          if (item) pending.before(item);
        }
        pending.scrollIntoView({ block: 'end' });
      }
    } catch (error) {
      if (error.name === 'AbortError') {
        status.textContent = 'Cancelled: the run stops and is recorded as cancelled.';
      } else {
        status.textContent = '';
        pending.after(notice('error', explain(error)));
      }
    } finally {
      pending.classList.remove('streaming');
      pending.removeAttribute('aria-busy');
      if (!answer.textContent) pending.remove();
      turn = null;
      sendButton.disabled = false;
      cancelButton.disabled = true;
      text.focus();
      changed();
    }
  }
  form.addEventListener('submit', (event) => { event.preventDefault(); sendMessage(); });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); sendMessage(); }
  });
  pane.addEventListener('keydown', (event) => { if (event.key === 'Escape') turn?.abort(); });
  cancelButton.addEventListener('click', () => turn?.abort());
  text.focus();
}

/** Every event of a thread, a page at a time. */
export async function* threadEvents(threadID, signal) {
  let from = 1;
  for (;;) {
    const page = await get(`/v1/threads/${encodeURIComponent(threadID)}/events${query({ from, limit: 1000 })}`,
      { signal });
    yield* page.events;
    if (page.next === null || page.next === undefined) return;
    from = page.next;
  }
}

/** The chat's item for an event (nil for those the chat leaves to the timeline). */
function rendered(type, data, seq) {
  const at = seq ? { 'data-seq': seq } : {};
  switch (type) {
    case 'message.user':
      return h('li', { class: 'user', ...at }, h('b', {}, 'you'), h('span', { class: 'text' }, data.text));
    case 'message.assistant':
      return h('li', { class: 'assistant', ...at }, h('b', {}, 'agent'), h('span', { class: 'text' }, data.text));
    case 'tool.called':
      return h('li', { class: 'tool-call', ...at },
        h('b', {}, `calls ${data.server}/${data.tool}`), h('code', {}, data.arguments));
    case 'tool.result':
      return h('li', { class: data.isError ? 'tool-result failed' : 'tool-result', ...at },
        h('b', {}, data.isError ? 'tool failed' : 'tool answered'), h('pre', {}, data.output));
    case 'authz.decided':
      if (data.decision !== 'deny') return null;
      return h('li', { class: 'denied', ...at },
        h('b', {}, 'denied'), `${data.action} on ${data.resource}: ${data.reason}`);
    case 'run.finished':
      if (data.status === 'completed') return null;
      return h('li', { class: 'run-end', ...at }, h('b', {}, 'run'), `ended ${data.status}`);
    default:
      return null;
  }
}
