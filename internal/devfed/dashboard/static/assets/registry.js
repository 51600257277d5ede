// Processors from OCI registries: the form that sends load_plugin with a
// reference to one neuron or the fleet, the commands it sent with their
// live statuses, and the fleet-wide hint when neurons run different
// digests of one reference (a rollout under way, or stuck).
import { api, query, APIError } from './api.js';
import { h, replace, badge, showMessage, markField, commandsMessage, shortDigest } from './dom.js';
import { outcome } from './commands.js';

// registryLoader returns {el, update(neurons), refresh()}: update offers
// the neurons as targets, refresh follows the commands last sent.
export function registryLoader() {
  const msg = h('div', { class: 'message', role: 'status', 'aria-live': 'polite', 'data-testid': 'registry-message', hidden: true });
  const refIn = h('input', { id: 'reg-ref', required: true, autocomplete: 'off', spellcheck: 'false', class: 'code', 'data-field': 'ref',
    'data-testid': 'registry-ref', placeholder: 'host[:port]/repository:tag or host[:port]/repository@sha256:…', 'aria-describedby': 'reg-ref-help' });
  const sumIn = h('input', { id: 'reg-sha256', autocomplete: 'off', spellcheck: 'false', class: 'code', 'data-field': 'sha256',
    'data-testid': 'registry-sha256', placeholder: '64 hex digits (optional)' });
  const targetSel = h('select', { id: 'reg-target', 'data-field': 'target', 'data-testid': 'registry-target' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'registry-submit', text: 'Load' });
  const sentBody = h('tbody');
  let sent = null; // {label, cmds} of the last send

  function showSent() {
    showMessage(msg, ...commandsMessage(sent.label, sent.cmds));
    if (!sent.cmds.length) {
      replace(sentBody, h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'No neuron targeted.' })));
      return;
    }
    replace(sentBody, sent.cmds.map((c) => h('tr', { 'data-testid': 'registry-command', 'data-neuron-id': c.neuronId, 'data-command-id': c.id },
      h('td', {}, h('a', { href: `#/neuron/${encodeURIComponent(c.neuronId)}`, text: c.neuronId })),
      h('td', {}, h('code', { text: c.id })),
      h('td', {}, badge(c.status, 'command-status')),
      h('td', {}, outcome(c)))));
  }

  const form = h('form', {
    class: 'stack', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const ref = refIn.value.trim();
      const sha256 = sumIn.value.trim();
      markField(form, '');
      if (!ref) {
        markField(form, 'ref');
        showMessage(msg, 'error', 'Enter a reference: host[:port]/repository:tag or host[:port]/repository@sha256:DIGEST.');
        refIn.focus();
        return;
      }
      const target = targetSel.value;
      const data = sha256 ? { ref, sha256 } : { ref };
      submit.disabled = true;
      showMessage(msg, 'info', `Sending load_plugin ${ref} to ${target}…`);
      try {
        const cmds = await api('POST', '/api/admin/commands', { target, type: 'load_plugin', data });
        sent = { label: `load_plugin ${ref} sent to ${target === 'fleet' ? 'the fleet' : target}`, cmds };
        showSent();
      } catch (e) {
        markField(form, e.field);
        showMessage(msg, 'error', e instanceof APIError ? e.text : String(e));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('p', { class: 'sub', id: 'reg-ref-help', text: 'Sends load_plugin with an OCI reference. Each neuron pulls the artifact, checks its digest (and signature, when it trusts keys) and swaps it in; the one serving stays if anything fails.' }),
  h('div', { class: 'grid-form' },
    h('label', { for: 'reg-ref', text: 'Reference (tag or @sha256: digest)' }), refIn,
    h('label', { for: 'reg-sha256', text: 'Module sha256 (optional)' }), sumIn,
    h('label', { for: 'reg-target', text: 'Target' }), targetSel),
  h('div', { class: 'row' }, submit, msg));

  return {
    el: h('section', { class: 'card', 'aria-labelledby': 'reg-h', 'data-testid': 'registry-load' },
      h('h2', { id: 'reg-h', text: 'Load a processor from a registry' }),
      form,
      h('div', { class: 'scroll' }, h('table', { class: 'table', 'data-testid': 'registry-commands' },
        h('thead', {}, h('tr', {}, ['Neuron', 'Command', 'Status', 'Outcome'].map((t) => h('th', { scope: 'col', text: t })))),
        sentBody))),
    update(neurons) {
      const keep = targetSel.value || 'fleet';
      replace(targetSel, h('option', { value: 'fleet', text: `the whole fleet (${neurons.length} neuron${neurons.length === 1 ? '' : 's'})` }),
        neurons.map((n) => h('option', { value: n.id, text: n.name && n.name !== n.id ? `${n.id} (${n.name})` : n.id })));
      targetSel.value = [...targetSel.options].some((o) => o.value === keep) ? keep : 'fleet';
    },
    async refresh() {
      if (!sent || sent.cmds.every((c) => ['succeeded', 'failed', 'rejected'].includes(c.status))) return;
      const ids = new Set(sent.cmds.map((c) => c.id));
      const now = await api('GET', `/api/admin/commands${query({ limit: Math.min(5000, Math.max(100, 4 * ids.size)) })}`);
      const byID = new Map(now.filter((c) => ids.has(c.id)).map((c) => [c.id, c]));
      sent.cmds = sent.cmds.map((c) => byID.get(c.id) || c);
      showSent();
    },
  };
}

// divergence is the fleet-wide hint: each reference whose neurons run
// different digests, and which neurons run which. Null when every
// reference runs one digest.
export function divergence(sources) {
  const split = (sources || []).filter((s) => s.digests.length > 1);
  if (!split.length) return null;
  return h('div', { class: 'message warn', role: 'status', 'data-testid': 'source-divergence' },
    h('strong', { text: 'Neurons run different digests of the same reference' }),
    h('ul', { class: 'plain' }, split.map((s) => h('li', { 'data-testid': 'divergent-source', 'data-ref': s.ref },
      h('code', { text: s.ref }), ': ',
      s.digests.map((d, i) => [i ? '; ' : '', h('code', { title: d.digest || 'no digest reported', text: shortDigest(d.digest) }),
        ` on ${d.neurons.join(', ')}`])))));
}
