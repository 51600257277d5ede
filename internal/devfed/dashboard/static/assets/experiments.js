// The experiments page: the list, one experiment's per-variant results side
// by side with stop and promote, and the form that starts a traffic split.
import { api, APIError } from './api.js';
import { h, replace, badge, fmtNum, fmtTime, showMessage, processorVersions, deliveries, outcomeMessage, markField } from './dom.js';
import { parseConfig } from './config.js';

const byVersion = (a, b) => a.localeCompare(b, 'en', { numeric: true });

// experimentForm returns {el, update(neurons)}; onCreated(id) runs after a
// successful start.
function experimentForm(onCreated) {
  let neurons = [];
  const msg = h('div', { class: 'message', role: 'status', 'aria-live': 'polite', 'data-testid': 'experiment-message', hidden: true });
  const idIn = h('input', { id: 'x-id', required: true, 'data-field': 'id', 'data-testid': 'experiment-id', placeholder: 'dp-split-1', autocomplete: 'off' });
  const targetSel = h('select', { id: 'x-target', 'data-field': 'target', 'data-testid': 'experiment-target', onchange: () => updateProcessors() });
  const pluginSel = h('select', { id: 'x-plugin', 'data-field': 'plugin', 'data-testid': 'experiment-plugin', onchange: () => updateVersions() });
  const rowsBody = h('tbody');
  const sum = h('span', { class: 'sum', 'data-testid': 'weights-sum', 'aria-live': 'polite' });
  const stickyKind = h('select', { id: 'x-sticky-kind', 'aria-label': 'Sticky key source' },
    [['', 'none (random)'], ['header', 'header'], ['query', 'query parameter'], ['json', 'JSON body field']].map(([v, t]) => h('option', { value: v, text: t })));
  const stickyName = h('input', { id: 'x-sticky-name', 'aria-label': 'Sticky key name', 'data-field': 'stickyKey', placeholder: 'X-User-Id' });
  const errIn = h('input', { id: 'x-err', type: 'number', min: 0, step: 'any', 'data-field': 'guardrails.errorRate', placeholder: 'e.g. 5' });
  const rtIn = h('input', { id: 'x-rt', type: 'number', min: 0, step: 'any', 'data-field': 'guardrails.responseTime', placeholder: 'e.g. 500' });
  const rows = [];

  function versions() {
    const byName = processorVersions(targetProcessors());
    return (byName.get(pluginSel.value) || []).slice().sort(byVersion);
  }
  function targetProcessors() {
    const t = targetSel.value;
    return neurons.filter((n) => t === 'fleet' || n.id === t).flatMap((n) => n.processors || []);
  }
  function versionOptions(sel) {
    const keep = sel.value;
    replace(sel, h('option', { value: '', text: '(serving version)' }), versions().map((v) => h('option', { value: v, text: v })));
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : '';
  }
  function updateVersions() {
    const vs = versions();
    rows.forEach((r, i) => {
      versionOptions(r.version);
      // A fresh pair defaults to old against new.
      if (!r.touched && vs.length > 1 && rows.length === 2) r.version.value = i === 0 ? vs[0] : vs[vs.length - 1];
    });
  }
  function updateProcessors() {
    const names = [...processorVersions(targetProcessors()).keys()];
    const keep = pluginSel.value;
    replace(pluginSel, names.length ? names.map((n) => h('option', { value: n, text: n })) : h('option', { value: '', text: 'no processors on this target' }));
    if (names.includes(keep)) pluginSel.value = keep;
    updateVersions();
  }
  function updateSum() {
    const total = rows.reduce((s, r) => s + (Number(r.weight.value) || 0), 0);
    sum.textContent = total === 100 ? 'weights sum to 100' : `weights sum to ${total}, must be 100`;
    sum.className = `sum ${total === 100 ? 'ok' : 'bad'}`;
    return total;
  }
  function addRow(name = '', weight = 0) {
    const i = rows.length;
    const r = {
      name: h('input', { value: name, 'aria-label': `Variant ${i + 1} name`, 'data-field': `variants[${i}].name`, 'data-testid': 'variant-name', required: true }),
      weight: h('input', { type: 'number', min: 0, max: 100, step: 1, value: weight, 'aria-label': `Variant ${i + 1} weight`, 'data-field': `variants[${i}].weight`, 'data-testid': 'variant-weight', oninput: updateSum }),
      version: h('select', { 'aria-label': `Variant ${i + 1} version`, 'data-field': `variants[${i}].version`, 'data-testid': 'variant-version', onchange: () => { r.touched = true; } }),
      config: h('input', { class: 'code', placeholder: '{}', 'aria-label': `Variant ${i + 1} config (JSON object)`, 'data-field': `variants[${i}].config`, 'data-testid': 'variant-config' }),
      touched: false,
    };
    r.tr = h('tr', { 'data-testid': 'variant-row' },
      h('td', {}, r.name), h('td', {}, r.weight), h('td', {}, r.version), h('td', {}, r.config),
      h('td', {}, h('button', { type: 'button', class: 'small', 'aria-label': `Remove variant ${i + 1}`, text: 'Remove', onclick: () => removeRow(r) })));
    rows.push(r);
    versionOptions(r.version);
    rowsBody.append(r.tr);
    updateSum();
  }
  function removeRow(r) {
    rows.splice(rows.indexOf(r), 1);
    r.tr.remove();
    updateSum();
  }

  // build returns {experiment} or {error, field} from the form.
  function build() {
    const x = { id: idIn.value.trim(), plugin: pluginSel.value, variants: [] };
    if (!x.id) return { error: 'an experiment id is required', field: 'id' };
    if (!x.plugin) return { error: 'pick a processor (the target has none loaded)', field: 'plugin' };
    if (!rows.length) return { error: 'add at least one variant', field: 'variants[0].name' };
    const names = new Set();
    for (const [i, r] of rows.entries()) {
      const v = { name: r.name.value.trim(), weight: Number(r.weight.value) };
      if (!v.name) return { error: `variant ${i + 1} needs a name`, field: `variants[${i}].name` };
      if (names.has(v.name)) return { error: `variant name "${v.name}" is used twice; names must be unique`, field: `variants[${i}].name` };
      names.add(v.name);
      if (!Number.isInteger(v.weight) || v.weight < 0 || v.weight > 100) return { error: `variant ${v.name}: weight must be a whole number from 0 to 100`, field: `variants[${i}].weight` };
      if (r.version.value) v.version = r.version.value;
      if (r.config.value.trim()) {
        const { config, error } = parseConfig(r.config.value);
        if (error) return { error: `variant ${v.name} config: ${error}`, field: `variants[${i}].config` };
        v.config = config;
      }
      x.variants.push(v);
    }
    const total = updateSum();
    if (total !== 100) return { error: `the weights sum to ${total}; they must sum to 100`, field: 'variants[0].weight' };
    if (stickyKind.value) {
      if (!stickyName.value.trim()) return { error: `name the ${stickyKind.value} the sticky key comes from`, field: 'stickyKey' };
      x.stickyKey = `${stickyKind.value}:${stickyName.value.trim()}`;
    }
    const g = {};
    for (const [k, inp] of [['errorRate', errIn], ['responseTime', rtIn]]) {
      if (inp.value === '') continue;
      const n = Number(inp.value);
      if (!(n >= 0)) return { error: `guardrail ${k} must be a number ≥ 0`, field: `guardrails.${k}` };
      g[k] = n;
    }
    if (Object.keys(g).length) x.guardrails = g;
    return { experiment: x };
  }

  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'experiment-submit', text: 'Start experiment' });
  const form = h('form', {
    class: 'stack', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      const { experiment, error, field } = build();
      markField(form, field);
      if (error) {
        showMessage(msg, 'error', error);
        return;
      }
      submit.disabled = true;
      try {
        const started = await api('POST', '/api/admin/experiments', { target: targetSel.value, experiment });
        showMessage(msg, ...outcomeMessage(`Experiment ${experiment.id} started on ${targetSel.value}`, started));
        idIn.value = '';
        onCreated(experiment.id);
      } catch (e) {
        markField(form, e.field);
        showMessage(msg, 'error', e instanceof APIError ? e.text : String(e));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'grid-form' },
    h('label', { for: 'x-id', text: 'Experiment id' }), idIn,
    h('label', { for: 'x-target', text: 'Target' }), targetSel,
    h('label', { for: 'x-plugin', text: 'Processor' }), pluginSel,
    h('label', { for: 'x-sticky-kind', text: 'Sticky key' }), h('div', { class: 'row' }, stickyKind, stickyName),
    h('label', { for: 'x-err', text: 'Guardrail: error rate (%)' }), errIn,
    h('label', { for: 'x-rt', text: 'Guardrail: response time (ms)' }), rtIn),
  h('table', { class: 'table variants', 'data-testid': 'variants-table' },
    h('caption', { text: 'Variants' }),
    h('thead', {}, h('tr', {}, ['Name', 'Weight (%)', 'Version', 'Config over the base (JSON)', ''].map((t) => h('th', { scope: 'col', text: t })))),
    rowsBody),
  h('div', { class: 'row' }, h('button', { type: 'button', 'data-testid': 'variant-add', text: 'Add variant', onclick: () => addRow(`variant-${rows.length + 1}`, 0) }), sum),
  h('div', { class: 'row' }, submit, msg));

  addRow('control', 50);
  addRow('candidate', 50);
  return {
    el: h('section', { class: 'card', 'aria-labelledby': 'xf-h', 'data-testid': 'experiment-form' }, h('h2', { id: 'xf-h', text: 'New experiment' }), form),
    update(list) {
      neurons = list;
      const keep = targetSel.value || 'fleet';
      replace(targetSel, h('option', { value: 'fleet', text: 'fleet (every neuron)' }), list.map((n) => h('option', { value: n.id, text: n.id })));
      targetSel.value = [...targetSel.options].some((o) => o.value === keep) ? keep : 'fleet';
      updateProcessors();
    },
  };
}

// results lays the variants out side by side: one column per variant.
function results(x, onStop) {
  const variants = (x.spec && x.spec.variants) || (x.spec && x.spec.variant ? [{ name: x.spec.variant }] : []);
  const res = new Map((x.results || []).map((r) => [r.variant, r]));
  for (const r of x.results || []) if (!variants.some((v) => v.name === r.variant)) variants.push({ name: r.variant });
  const stopped = new Map((x.stopped || []).map((s) => [s.variant, s]));
  if (!variants.length) return h('p', { class: 'muted', text: 'No variant results yet.' });
  const custom = [...new Set((x.results || []).flatMap((r) => Object.keys(r.customMetrics || {})))].sort();
  const metric = (label, fn) => h('tr', { 'data-metric': label }, h('th', { scope: 'row', text: label }), variants.map((v) => h('td', { class: 'num' }, fn(res.get(v.name) || {}, v))));
  const ms = (k) => (r) => (r[k] != null ? `${fmtNum(r[k], 1)} ms` : '–');
  return h('div', { class: 'scroll' }, h('table', { class: 'table results', 'data-testid': 'experiment-results' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Variant' }), variants.map((v) => h('th', { scope: 'col', 'data-testid': 'result-variant' },
      v.name, stopped.has(v.name) ? h('div', {}, badge('stopped')) : null)))),
    h('tbody', {},
      metric('Weight', (_, v) => (v.weight != null ? `${v.weight}%` : '–')),
      metric('Version', (_, v) => v.version || 'serving'),
      metric('Neurons', (r) => fmtNum(r.neurons, 0)),
      metric('Requests', (r) => fmtNum(r.totalRequests, 0)),
      metric('Failed', (r) => fmtNum(r.failedRequests, 0)),
      metric('Error rate', (r) => (r.errorRate != null ? `${fmtNum(r.errorRate, 2)}%` : '–')),
      metric('Average latency', ms('averageResponseTime')),
      metric('p50', ms('p50')), metric('p95', ms('p95')), metric('p99', ms('p99')),
      custom.map((k) => metric(k, (r) => fmtNum((r.customMetrics || {})[k], 2))),
      metric('Guardrail', (_, v) => (stopped.has(v.name) ? h('span', { class: 'error-text', text: stopped.get(v.name).reason || 'stopped' }) : 'ok')),
      x.status === 'running' ? h('tr', {}, h('th', { scope: 'row', text: 'Action' }), variants.map((v) => h('td', { class: 'num' },
        h('button', { type: 'button', class: 'small', 'data-testid': 'experiment-promote', 'data-variant': v.name, text: `Stop, promote ${v.name}`, onclick: () => onStop(v.name) })))) : null)));
}

// experimentsView is the page at #/experiments and #/experiments/ID.
export function experimentsView(selected) {
  const list = h('tbody');
  const detail = h('div');
  const actionMsg = h('div', { class: 'message', role: 'status', 'aria-live': 'polite', 'data-testid': 'experiment-action-message', hidden: true });
  const form = experimentForm((id) => { location.hash = `#/experiments/${encodeURIComponent(id)}`; });

  async function stop(promote) {
    try {
      const stopped = await api('POST', `/api/admin/experiments/${encodeURIComponent(selected)}/stop`, promote ? { promote } : {});
      showMessage(actionMsg, ...outcomeMessage(promote ? `Stopped ${selected}; ${promote} promoted` : `Stopped ${selected}`, stopped));
      await view.refresh();
    } catch (e) {
      showMessage(actionMsg, 'error', e instanceof APIError ? e.text : String(e));
    }
  }

  const el = h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { text: 'Experiments' })),
    h('section', { class: 'card', 'aria-labelledby': 'xl-h' }, h('h2', { id: 'xl-h', text: 'All experiments' }),
      h('div', { class: 'scroll' }, h('table', { class: 'table', 'data-testid': 'experiments-table' },
        h('thead', {}, h('tr', {}, ['Experiment', 'Target', 'Status', 'Processor', 'Variants', 'Created', 'Stopped', 'Promoted'].map((t) => h('th', { scope: 'col', text: t })))),
        list))),
    selected ? h('section', { class: 'card', 'aria-labelledby': 'xd-h', 'data-testid': 'experiment-detail' }, detail, actionMsg) : null,
    form.el);

  const view = {
    el,
    title: 'Experiments',
    async refresh() {
      const [xs, neurons, one] = await Promise.all([
        api('GET', '/api/admin/experiments'),
        api('GET', '/api/admin/neurons'),
        selected ? api('GET', `/api/admin/experiments/${encodeURIComponent(selected)}`).catch((e) => e) : null,
      ]);
      form.update(neurons);
      replace(list, xs.length ? xs.map((x) => h('tr', { 'data-testid': 'experiment-row', 'data-experiment-id': x.id, class: x.id === selected ? 'selected' : null },
        h('td', {}, h('a', { href: `#/experiments/${encodeURIComponent(x.id)}`, text: x.id })),
        h('td', { text: x.target }),
        h('td', {}, badge(x.status, 'experiment-status')),
        h('td', { text: (x.spec && x.spec.plugin) || '–' }),
        h('td', { text: ((x.spec && x.spec.variants) || []).map((v) => `${v.name} ${v.weight}%`).join(', ') || (x.spec && x.spec.variant) || '–' }),
        h('td', { class: 'time', text: fmtTime(x.createdAt) }),
        h('td', { class: 'time', text: fmtTime(x.stoppedAt) }),
        h('td', { text: x.promote || '–' })))
        : h('tr', {}, h('td', { colspan: 8, class: 'muted', text: 'No experiments yet. Start one below.' })));
      if (!selected) return;
      if (one instanceof Error) {
        if (one instanceof APIError && one.status === 404) {
          replace(detail, h('p', { class: 'message error', text: one.message }));
          return;
        }
        throw one;
      }
      replace(detail,
        h('div', { class: 'card-head' }, h('h2', { id: 'xd-h' }, `${one.id} `, badge(one.status)),
          one.status === 'running' ? h('button', { type: 'button', class: 'warn', 'data-testid': 'experiment-stop', text: 'Stop experiment', onclick: () => stop('') }) : null),
        h('p', { class: 'sub', text: `target ${one.target} · ${one.spec && one.spec.plugin ? 'processor ' + one.spec.plugin + ' · ' : ''}sticky key ${(one.spec && one.spec.stickyKey) || 'none'} · guardrails ${one.spec && one.spec.guardrails ? JSON.stringify(one.spec.guardrails) : 'neuron defaults'} · started ${fmtTime(one.createdAt)}` }),
        results(one, stop),
        h('h3', { text: 'Delivery' }),
        deliveries(one.deliveries));
    },
  };
  return view;
}
