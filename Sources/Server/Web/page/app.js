// The page's frame: which view the address names (`#/chat/t1`, `#/timeline/t1?at=42`, …), who is signed in, and
// the way back to sign-in when the server refuses the token.
import { explain, onUnauthenticated, session } from './api.js';
import { notice } from './dom.js';
import * as audit from './audit.js';
import * as chat from './chat.js';
import * as diff from './diff.js';
import * as registry from './registry.js';
import * as signin from './signin.js';
import * as tail from './tail.js';
import * as timeline from './timeline.js';

const views = { signin, chat, timeline, diff, audit, registry, tail };
let running = null;

/** `#/view/arg/arg?name=value` as its parts. */
function parse(hash) {
  const [path, search = ''] = hash.replace(/^#\/?/, '').split('?');
  const [view = '', ...args] = path.split('/').filter((part) => part !== '').map(decodeURIComponent);
  return { view, args, parameters: new URLSearchParams(search) };
}

async function render() {
  const { view, args, parameters } = parse(location.hash);
  running?.abort();
  running = new AbortController();
  const signal = running.signal;
  if (!session.token() && view !== 'signin') {
    location.hash = '#/signin';
    return;
  }
  if (!views[view]) {
    location.hash = '#/chat';
    return;
  }
  showWho(view);
  const main = document.getElementById('view');
  main.replaceChildren();
  document.title = `Logbook · ${view === 'signin' ? 'sign in' : view}`;
  try {
    await views[view].render(main, { args, parameters, signal });
  } catch (error) {
    if (error.name !== 'AbortError' && !signal.aborted) main.append(notice('error', explain(error)));
  }
}

function showWho(view) {
  const claims = session.claims();
  const signedIn = view !== 'signin' && claims;
  document.getElementById('who').textContent = signedIn
    ? `${claims.sub} · ${(claims.roles ?? []).join(', ') || 'no roles'} · workspace ${claims.workspace ?? 'default'}`
    : '';
  document.getElementById('sign-out').hidden = !signedIn;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.view === view || (view === 'timeline' && link.dataset.view === 'chat')) {
      link.setAttribute('aria-current', 'page');
    } else {
      link.removeAttribute('aria-current');
    }
  }
}

onUnauthenticated((message) => {
  sessionStorage.setItem('logbook.signin-reason', message);
  location.hash = '#/signin';
});
document.getElementById('sign-out').addEventListener('click', () => {
  session.signOut();
  location.hash = '#/signin';
});
window.addEventListener('hashchange', render);
render();
