// The registry: models (with the organization's default, workspace overrides and why this workspace gets its
// model), MCP servers with their health, agents; forms for administrators (the server decides who may change what
// and answers 403 to the others); each entry's history from the audit trail.
import { ApiError, explain, get, query, send, session } from './api.js';
import { field, h, notice, time } from './dom.js';
import { sources } from './timeline.js';

const providers = ['openai', 'azure-openai', 'anthropic', 'ollama', 'vllm', 'llama.cpp', 'openai-compatible'];

export async function render(main, { signal }) {
  const registry = await get('/v1/registry', { signal });
  const workspace = session.claims()?.workspace ?? 'default';
  const status = h('div', { id: 'registry-status', 'aria-live': 'polite' });
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  /** Sends a change; on success shows the registry again, else says why. */
  const change = async (method, path, body) => {
    try {
      await send(method, path, body);
      reload();
    } catch (error) {
      status.replaceChildren(notice('error', explain(error)));
    }
  };

  let effective = null;
  try {
    effective = await get(`/v1/workspaces/${encodeURIComponent(workspace)}/effective-model`, { signal });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
  }

  main.append(h('h1', {}, 'Registry'), status,
    h('section', { class: 'panel', id: 'models' }, h('h2', {}, 'Models'),
      effective
        ? h('p', { id: 'workspace-model' }, `Workspace ${workspace} uses `, h('b', {}, effective.model ?? 'no model'),
          `: ${sources[effective.source] ?? effective.source}`,
          effective.provenance.length ? `, decided at seq ${effective.provenance.join(', ')}` : '',
          effective.problem ? ` — ${effective.problem}` : '', '.')
        : null,
      table(['name', 'provider', 'endpoint', 'environment', 'secret', ''], registry.models.map((m) => [
        [m.name, m.name === registry.organizationDefault ? h('small', {}, ' org default') : null],
        m.provider, m.endpoint, m.environment, m.secretReference ?? '',
        actions(`model:${m.name}`, () => change('DELETE', `/v1/registry/models/${encodeURIComponent(m.name)}`)),
      ]), 'No models registered.'),
      h('h3', {}, 'Workspace overrides'),
      table(['workspace', 'model'], Object.entries(registry.workspaceDefaults).map(([w, m]) => [w, m]),
        'No workspace overrides: every workspace uses the organization\'s default.'),
      modelForm(change), defaultsForm(change, registry.models)),
    h('section', { class: 'panel', id: 'mcp' }, h('h2', {}, 'MCP servers'),
      table(['name', 'transport', 'command or URL', 'health', 'last checked', ''], registry.mcpServers.map((s) => [
        s.definition.name, s.definition.transport,
        h('code', {}, s.definition.transport === 'stdio' ? s.definition.command.join(' ') : s.definition.url),
        [h('span', { class: `badge ${s.health}` }, s.health), s.healthDetail ? h('small', {}, ` ${s.healthDetail}`) : null],
        s.healthChecked ? time(s.healthChecked) : 'never',
        actions(`mcp:${s.definition.name}`,
          () => change('DELETE', `/v1/registry/mcp/${encodeURIComponent(s.definition.name)}`),
          h('button', {
            type: 'button',
            onclick: () => change('PUT', `/v1/registry/mcp/${encodeURIComponent(s.definition.name)}/maintenance`,
              { maintenance: s.health !== 'maintenance', reason: 'from the web page' }),
          }, s.health === 'maintenance' ? 'End maintenance' : 'Maintenance')),
      ]), 'No MCP servers registered.'),
      mcpForm(change)),
    h('section', { class: 'panel', id: 'agents' }, h('h2', {}, 'Agents'),
      table(['name', 'model', 'tools', 'sub-agents', 'instructions', ''], registry.agents.map((a) => [
        a.name, a.model ?? 'the workspace\'s', a.allowedTools.join(', '), a.subAgents.join(', '), a.instructions,
        actions(`agent:${a.name}`, () => change('DELETE', `/v1/registry/agents/${encodeURIComponent(a.name)}`)),
      ]), 'No agents defined: chats use the default agent.'),
      agentForm(change)));
}

function table(columns, rows, empty) {
  if (rows.length === 0) return notice('empty', empty);
  return h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))));
}

/** A row's buttons: its history (from the audit trail), remove, and any others. */
function actions(resource, remove, ...more) {
  const history = h('div', { class: 'history' });
  const show = h('button', { type: 'button', 'aria-expanded': 'false' }, 'History');
  show.addEventListener('click', async () => {
    if (show.getAttribute('aria-expanded') === 'true') {
      history.replaceChildren();
      show.setAttribute('aria-expanded', 'false');
      return;
    }
    show.setAttribute('aria-expanded', 'true');
    try {
      const page = await get(`/v1/audit${query({ kind: 'configuration', resource, limit: 20 })}`);
      history.replaceChildren(page.entries.length === 0 ? notice('empty', 'No recorded change.')
        : h('ol', { class: 'compact' }, page.entries.map((e) =>
          h('li', {}, `${time(e.time)} ${e.actor}: ${e.action}`, e.reason && e.reason !== e.action ? ` — ${e.reason}` : '',
            e.after ? h('code', {}, ` ${e.after}`) : ''))));
    } catch (error) {
      history.replaceChildren(notice('error', explain(error)));
    }
  });
  const removal = h('button', { type: 'button', class: 'danger' }, 'Remove');
  removal.addEventListener('click', () => {
    if (window.confirm(`Remove ${resource}? The removal is recorded.`)) remove();
  });
  return [show, ...more, removal, history];
}

/** A form in a disclosure: `submit(values)` gets the named controls' values. */
function form(title, id, controls, submit) {
  const element = h('form', { id, class: 'row' }, controls, h('button', { type: 'submit' }, 'Save'));
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(Object.fromEntries(new FormData(element).entries()));
  });
  return h('details', {}, h('summary', {}, title), element);
}

function modelForm(change) {
  return form('Register or change a model', 'model-form', [
    field('Name', h('input', { name: 'name', required: true })),
    field('Provider', h('select', { name: 'provider' }, providers.map((p) => h('option', { value: p }, p)))),
    field('Endpoint', h('input', { name: 'endpoint', type: 'url', required: true, placeholder: 'https://…/v1' })),
    field('Secret reference', h('input', { name: 'secretReference', placeholder: 'env:NAME or file:/path' }),
      'A reference, never the key itself.'),
    field('Environment', h('select', { name: 'environment' }, ['LAB', 'NONPROD', 'PROD'].map((e) => h('option', {}, e)))),
  ], (v) => {
    const body = { provider: v.provider, endpoint: v.endpoint, environment: v.environment };
    if (v.secretReference) body.secretReference = v.secretReference;
    change('PUT', `/v1/registry/models/${encodeURIComponent(v.name)}`, body);
  });
}

function defaultsForm(change, models) {
  const options = () => [h('option', { value: '' }, 'none (clear)'), models.map((m) => h('option', { value: m.name }, m.name))];
  return form('Set a default model', 'default-form', [
    field('Workspace', h('input', { name: 'workspace', placeholder: 'empty: the organization' })),
    field('Model', h('select', { name: 'model' }, options())),
  ], (v) => {
    const body = { model: v.model === '' ? null : v.model };
    const path = v.workspace ? `/v1/workspaces/${encodeURIComponent(v.workspace)}/default-model` : '/v1/registry/default-model';
    change('PUT', path, body);
  });
}

function mcpForm(change) {
  return form('Register or change an MCP server', 'mcp-form', [
    field('Name', h('input', { name: 'name', required: true })),
    field('Command (stdio)', h('input', { name: 'command', placeholder: 'mcp-server-time --local-timezone UTC' })),
    field('or URL (streamable HTTP)', h('input', { name: 'url', type: 'url' })),
  ], (v) => {
    const body = v.url ? { transport: 'http', url: v.url } : { transport: 'stdio', command: v.command.trim().split(/\s+/) };
    change('PUT', `/v1/registry/mcp/${encodeURIComponent(v.name)}`, body);
  });
}

function agentForm(change) {
  return form('Define or change an agent', 'agent-form', [
    field('Name', h('input', { name: 'name', required: true })),
    field('Instructions', h('textarea', { name: 'instructions', rows: 3, required: true })),
    field('Model', h('input', { name: 'model', placeholder: 'empty: the workspace\'s' })),
    field('Tools', h('input', { name: 'tools', placeholder: 'k8s/*, time/get_current_time' })),
    field('Sub-agents', h('input', { name: 'subAgents', placeholder: 'worker, triage' })),
  ], (v) => {
    const list = (text) => text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const body = { instructions: v.instructions, allowedTools: list(v.tools), subAgents: list(v.subAgents) };
    if (v.model) body.model = v.model;
    change('PUT', `/v1/registry/agents/${encodeURIComponent(v.name)}`, body);
  });
}
