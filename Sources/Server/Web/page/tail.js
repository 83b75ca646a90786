// The log as it grows (administrators: `events.read`): the last events, newest first, at most `keep` of them in the
// page; pause stops reading (the server holds nothing for a paused page) and resume goes on from the last seq seen.
import { call, explain, frames, query } from './api.js';
import { h, notice, shown, time } from './dom.js';

const keep = 500;

export async function render(main, { signal }) {
  const list = h('ol', { id: 'tail', class: 'events', reversed: true });
  const state = h('p', { id: 'tail-state', role: 'status' }, 'Connecting…');
  const pause = h('button', { type: 'button', id: 'tail-pause' }, 'Pause');
  const backlog = h('input', { type: 'number', id: 'tail-backlog', min: 0, max: 1000, value: 50 });
  main.append(h('h1', {}, 'Live tail of the log'),
    h('div', { class: 'row' }, h('label', { class: 'field' }, h('span', {}, 'Start this many events back'), backlog),
      pause, state), list);

  let last = null;
  let reading = null;
  async function follow() {
    reading = new AbortController();
    signal.addEventListener('abort', () => reading.abort());
    let from = last === null ? null : last + 1;
    try {
      if (from === null) {
        const ready = await (await fetch('/readyz', { cache: 'no-store' })).json();
        from = Math.max(1, ready.events - Number(backlog.value || 0) + 1);
      }
      const response = await call('GET', `/v1/events/stream${query({ from })}`, undefined,
        { signal: reading.signal, accept: 'text/event-stream' });
      state.textContent = 'Reading the backlog…';
      for await (const frame of frames(response)) {
        if (frame.event === 'caught-up') { state.textContent = 'Live: new events appear at the top.'; continue; }
        if (frame.event === 'dropped') {
          state.textContent = 'The page fell behind; reading again from the last event shown.';
          reading.abort();
          setTimeout(follow, 100);
          return;
        }
        const event = JSON.parse(frame.data);
        last = event.seq;
        list.prepend(h('li', { 'data-seq': event.seq },
          h('div', { class: 'event-head' }, h('span', { class: 'seq' }, event.seq), h('b', {}, event.type),
            h('span', { class: 'actor' }, event.actor ?? ''), h('span', {}, event.stream),
            h('time', { datetime: event.time }, time(event.time))),
          h('pre', {}, shown(event.data ?? {}).slice(0, 600))));
        while (list.childElementCount > keep) list.lastElementChild.remove();
      }
      state.textContent = 'The server ended the tail (it is shutting down).';
    } catch (error) {
      if (error.name === 'AbortError') return;
      state.replaceChildren(notice('error', explain(error)));
    }
  }
  pause.addEventListener('click', () => {
    if (pause.textContent === 'Pause') {
      reading?.abort();
      pause.textContent = 'Resume';
      state.textContent = `Paused after seq ${last ?? '–'}.`;
    } else {
      pause.textContent = 'Pause';
      follow();
    }
  });
  follow();
}
