// The command buttons of a neuron's page and the list of its commands with
// their statuses and outcomes, as the federation tracks them.
import { api, APIError } from './api.js';
import { h, replace, badge, fmtNum, fmtTime, json, showMessage, processorVersions } from './dom.js';

// outcome summarises a command's outcome as the neuron reported it: the
// error (or the reasons it refused the update), or "ok" with the time
// taken and the result.
export function outcome(c) {
  const o = c.outcome;
  if (!o) return h('span', { class: 'muted', text: c.status === 'pending' ? 'waiting for the neuron' : '–' });
  const full = JSON.stringify(o, null, 2);
  if (o.running) return h('span', { class: 'muted', title: full, text: `running since ${fmtTime(o.started)}` });
  if (o.error) return h('span', { class: 'error-text', title: full, text: o.error });
  if (o.rejected) return h('span', { class: 'error-text', title: full, text: `refused: ${(o.reasons || []).join('; ')}` });
  const took = o.durationMs != null ? ` in ${fmtNum(o.durationMs, 1)} ms` : '';
  return h('span', { title: full }, `${o.ok === false ? 'failed' : 'ok'}${took}`,
    o.result != null ? [' ', json(o.result, 90)] : null);
}

// commandPanel returns {el, update(detail)} for the neuron id; update
// refreshes the processor choices and the command list from the neuron's
// admin detail.
export function commandPanel(id) {
  const msg = h('div', { class: 'message', role: 'status', 'aria-live': 'polite', 'data-testid': 'command-message', hidden: true });
  const reloadSel = h('select', { id: 'cmd-reload-plugin', 'data-testid': 'cmd-reload-plugin' });
  const rollbackSel = h('select', { id: 'cmd-rollback-plugin', 'data-testid': 'cmd-rollback-plugin' });
  const buttons = [];

  async function send(type, data, label) {
    for (const b of buttons) b.disabled = true;
    showMessage(msg, 'info', `Sending ${label}…`);
    try {
      const cmds = await api('POST', '/api/admin/commands', { target: id, type, data });
      const c = cmds[0];
      showMessage(msg, 'ok', c ? `${label}: ${c.id} ${c.status}` : `${label}: no neuron targeted`);
      await panel.onSent();
    } catch (e) {
      showMessage(msg, 'error', e instanceof APIError ? e.text : String(e));
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
  function button(testid, label, type, data, cls = '') {
    const b = h('button', { type: 'button', class: cls, 'data-testid': testid, text: label, onclick: () => send(type, data(), label) });
    buttons.push(b);
    return b;
  }
  const plugin = (sel) => () => ({ plugin: sel.value });

  const list = h('tbody');
  const panel = {
    onSent: async () => {},
    el: h('section', { class: 'card', 'aria-labelledby': 'commands-h', 'data-testid': 'commands' },
      h('h2', { id: 'commands-h', text: 'Commands' }),
      h('div', { class: 'command-bar' },
        button('cmd-restart', 'Restart workers', 'restart_worker', () => ({ workerId: 'all', graceful: true })),
        h('span', { class: 'group' }, h('label', { for: 'cmd-reload-plugin', class: 'sr-only', text: 'Processor to reload' }), reloadSel,
          button('cmd-reload', 'Reload', 'reload_plugin', plugin(reloadSel))),
        h('span', { class: 'group' }, h('label', { for: 'cmd-rollback-plugin', class: 'sr-only', text: 'Processor to roll back' }), rollbackSel,
          button('cmd-rollback', 'Roll back', 'rollback_plugin', plugin(rollbackSel))),
        button('cmd-drain', 'Drain', 'drain', () => ({}), 'warn'),
        button('cmd-resume', 'Resume', 'resume', () => ({})),
        button('cmd-flush', 'Flush analytics', 'flush_analytics', () => ({}))),
      msg,
      h('div', { class: 'scroll' }, h('table', { class: 'table', 'data-testid': 'commands-table' },
        h('thead', {}, h('tr', {}, ['Command', 'Type', 'Data', 'Status', 'Outcome', 'Created', 'Updated'].map((t) => h('th', { scope: 'col', text: t })))),
        list))),
    update(detail) {
      const names = [...processorVersions(detail.processors).keys()];
      for (const sel of [reloadSel, rollbackSel]) {
        const keep = sel.value;
        replace(sel, names.length ? names.map((n) => h('option', { value: n, text: n })) : h('option', { value: '', text: 'no processors' }));
        if (names.includes(keep)) sel.value = keep;
      }
      const cmds = detail.commands || [];
      if (!cmds.length) {
        replace(list, h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No commands sent to this neuron yet.' })));
        return;
      }
      replace(list, cmds.map((c) => h('tr', { 'data-testid': 'command-row', 'data-command-id': c.id, 'data-command-type': c.type },
        h('td', {}, h('code', { text: c.id })),
        h('td', { text: c.type }),
        h('td', {}, json(c.data, 60)),
        h('td', {}, badge(c.status, 'command-status')),
        h('td', {}, outcome(c)),
        h('td', { class: 'time', text: fmtTime(c.createdAt) }),
        h('td', { class: 'time', text: fmtTime(c.updatedAt) }))));
    },
  };
  return panel;
}
