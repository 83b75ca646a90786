// Sign in: paste a token. The page keeps it in this tab only and checks it with one call before going on.
import { ApiError, get, session } from './api.js';
import { field, h, notice } from './dom.js';

export async function render(main) {
  const development = document.querySelector('meta[name="logbook-mode"]')?.content === 'development';
  const reason = sessionStorage.getItem('logbook.signin-reason');
  sessionStorage.removeItem('logbook.signin-reason');
  const input = h('textarea', {
    id: 'token', rows: 5, required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help',
  });
  const problem = h('div', { id: 'signin-problem' });
  const form = h('form', { id: 'signin', class: 'panel narrow' },
    h('h1', {}, 'Sign in'),
    reason ? notice('error', `Sign in again: ${reason}.`) : null,
    field('Token (JWT)', input),
    h('p', { id: 'token-help', class: 'hint' },
      development
        ? ['This server runs in development mode: it printed an administrator\'s token when it started. ',
          'Mint one for another subject or role with ',
          h('code', {}, 'logbook token --data DIR --subject user:NAME --role operator --workspace W'), '.']
        : 'Paste the token your identity provider issued for Logbook.',
      ' The token stays in this browser tab and goes only to this server.'),
    problem,
    h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    problem.replaceChildren();
    if (token.split('.').length !== 3) {
      problem.append(notice('error', 'That is not a JWT: it should be three parts separated by dots.'));
      return;
    }
    session.signIn(token);
    try {
      await get('/v1/threads?limit=1');
    } catch (error) {
      // 403 is a valid token whose roles do not read threads: signed in all the same.
      if (!(error instanceof ApiError) || error.status !== 403) {
        session.signOut();
        sessionStorage.removeItem('logbook.signin-reason');
        problem.append(notice('error', `The server did not accept it: ${error.message}.`));
        return;
      }
    }
    location.hash = '#/chat';
  });
  main.append(form);
  input.focus();
}
