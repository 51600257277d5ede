// The config editor: a JSON object checked in the browser (must parse, must
// be an object) and by the federation (400 naming the field), then the
// target's history with each neuron's delivery status.
import { api, query, APIError } from './api.js';
import { h, replace, fmtTime, json, showMessage, deliveries, outcomeMessage } from './dom.js';

// parseConfig checks the editor's text; it returns {config} or {error}.
export function parseConfig(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `not valid JSON: ${e.message}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { error: 'the config must be a JSON object, such as {"batchSize": 500}' };
  }
  return { config: v };
}

// configEditor returns the editor for target ("fleet" or a neuron id):
// {el, refresh}. refresh reloads the history; the editor's text is kept
// while the user edits it.
export function configEditor(target) {
  const id = `config-${target === 'fleet' ? 'fleet' : 'neuron'}`;
  const area = h('textarea', { id, rows: 8, spellcheck: 'false', class: 'code', 'data-testid': 'config-editor', 'aria-describedby': `${id}-msg` });
  const msg = h('div', { id: `${id}-msg`, class: 'message', role: 'status', 'aria-live': 'polite', 'data-testid': 'config-message', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'config-submit', text: 'Apply config' });
  let dirty = false;
  area.addEventListener('input', () => {
    dirty = true;
    const { error } = parseConfig(area.value);
    area.classList.toggle('invalid', !!error);
    area.setAttribute('aria-invalid', error ? 'true' : 'false');
    if (!error) showMessage(msg, '', '');
  });
  const history = h('tbody');
  const form = h('form', {
    class: 'stack', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const { config, error } = parseConfig(area.value);
      if (error) {
        showMessage(msg, 'error', error);
        area.focus();
        return;
      }
      submit.disabled = true;
      showMessage(msg, 'info', 'Applying…');
      try {
        const rev = await api('POST', '/api/admin/configs', { target, config });
        showMessage(msg, ...outcomeMessage(`Revision ${rev.rev} (${rev.version}) saved`, rev));
        dirty = false;
        await refresh();
      } catch (e) {
        showMessage(msg, 'error', e instanceof APIError ? e.text : String(e));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('label', { for: id, text: target === 'fleet' ? 'Fleet config (JSON object; every neuron, a neuron’s own config wins per key)' : 'This neuron’s config (JSON object, over the fleet config)' }),
  area,
  h('div', { class: 'row' }, submit, msg));

  const el = h('section', { class: 'card', 'data-testid': `config-${target === 'fleet' ? 'fleet' : 'neuron'}`, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h`, text: target === 'fleet' ? 'Fleet configuration' : 'Configuration' }),
    form,
    h('h3', { text: 'History' }),
    h('div', { class: 'scroll' }, h('table', { class: 'table', 'data-testid': 'config-history' },
      h('thead', {}, h('tr', {}, ['Rev', 'Version', 'Saved', 'Config', 'Delivery', ''].map((t) => h('th', { scope: 'col', text: t })))),
      history)));

  async function refresh() {
    const revs = await api('GET', `/api/admin/configs${query({ target })}`);
    if (!dirty && document.activeElement !== area) {
      area.value = JSON.stringify(revs.length ? revs[0].config : {}, null, 2);
    }
    if (!revs.length) {
      replace(history, h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No config saved for this target yet.' })));
      return;
    }
    replace(history, revs.map((r) => h('tr', { 'data-testid': 'config-rev', 'data-rev': r.rev },
      h('td', { text: r.rev }),
      h('td', {}, h('code', { text: r.version })),
      h('td', { class: 'time', text: fmtTime(r.createdAt) }),
      h('td', {}, json(r.config, 80)),
      h('td', {}, deliveries(r.deliveries)),
      h('td', {}, h('button', {
        type: 'button', class: 'small', text: 'Edit',
        'aria-label': `Load revision ${r.rev} into the editor`,
        onclick: () => { area.value = JSON.stringify(r.config, null, 2); dirty = true; area.focus(); },
      })))));
  }
  return { el, refresh };
}
