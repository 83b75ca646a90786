// The page's only way to the server: the public API (/openapi.json), with the token the user pasted. The token lives
// in this tab's sessionStorage (gone when the tab closes), goes in the Authorization header only, never in a URL.
import { h } from './dom.js';

const KEY = 'logbook.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (token) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
  /** What the token says about its holder (read for display only: the server decides what they may do). */
  claims() {
    const token = sessionStorage.getItem(KEY);
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    } catch {
      return null;
    }
  },
};

/** An answer other than 2xx: its status and the API's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthenticated = () => {};
/** What to do when the server refuses the token (expired, revoked): `handler(message)`. */
export function onUnauthenticated(handler) { unauthenticated = handler; }

async function failure(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || 'the server refused the request';
  try {
    const body = await response.json();
    code = body.error.code;
    message = body.error.message;
  } catch { /* not the API's error shape */ }
  if (response.status === 401) {
    session.signOut();
    unauthenticated(message);
  }
  return new ApiError(response.status, code, message);
}

/** A request to the API; throws `ApiError` for any status but 2xx. */
export async function call(method, path, body, { signal, accept } = {}) {
  const headers = { Authorization: `Bearer ${session.token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (accept) headers.Accept = accept;
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'unreachable', 'the server cannot be reached: is it running?');
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/** GET a JSON answer. */
export async function get(path, options) { return (await call('GET', path, undefined, options)).json(); }

/** POST, PUT or DELETE with a JSON body; the JSON answer (null for 204). */
export async function send(method, path, body, options) {
  const response = await call(method, path, body, options);
  return response.status === 204 ? null : response.json();
}

/** `?name=value&…` of the parameters that have a value. */
export function query(parameters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The server-sent events of a response, one `{event, id, data}` at a time (comments skipped). */
export async function* frames(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame = { event: 'message', id: null, data: '' };
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line === '') continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') frame.event = text;
        else if (name === 'id') frame.id = text;
        else if (name === 'data') data.push(text);
      }
      if (data.length === 0 && frame.event === 'message') continue;
      frame.data = data.join('\n');
      yield frame;
    }
  }
}

/** Saves what `path` answers as a file named `filename` (the export of the audit trail). */
export async function download(path, filename) {
  const blob = await (await call('GET', path)).blob();
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** What to tell the user about a failed call. */
export function explain(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in the page: ${error.message}`;
  switch (error.status) {
    case 0: return 'The server cannot be reached. Is it running?';
    case 403: return `You may not do this: ${error.message}. (The refusal is recorded in the audit trail.)`;
    case 404: return `Not found: ${error.message}`;
    case 429: return 'Too many requests: wait a moment and try again.';
    default: return `${error.message} (${error.status} ${error.code})`;
  }
}
