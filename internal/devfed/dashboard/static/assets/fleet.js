// The fleet page: counts by status, one row per neuron with what it runs
// (processors with their module digests, registry references with their
// artifact digests), live; loading a processor from a registry; the fleet
// config.
import { api } from './api.js';
import { h, replace, badge, fmtNum, timeAgo, processorChips, sourceList } from './dom.js';
import { configEditor } from './config.js';
import { registryLoader, divergence } from './registry.js';

const statusOrder = ['active', 'degraded', 'draining', 'stale', 'stopping', 'registered', 'offline'];

// row is neuron n's row; split holds the references the fleet runs in
// more than one digest.
function row(n, now, split) {
  const m = n.metrics || {};
  return h('tr', { 'data-testid': 'neuron-row', 'data-neuron-id': n.id },
    h('td', {}, h('a', { href: `#/neuron/${encodeURIComponent(n.id)}`, 'data-testid': 'neuron-link', text: n.id }),
      n.name && n.name !== n.id ? h('div', { class: 'sub', text: n.name }) : null),
    h('td', {}, badge(n.status, 'neuron-status'),
      n.reportedStatus && n.reportedStatus !== n.status ? h('div', { class: 'sub', text: `reported ${n.reportedStatus}` }) : null),
    h('td', { class: 'num', 'data-testid': 'neuron-health' }, fmtNum(n.healthScore, 0)),
    h('td', { 'data-testid': 'neuron-heartbeat' }, timeAgo(n.lastHeartbeat, now)),
    h('td', {}, h('div', { text: n.version || '–' }),
      h('div', { class: 'sub', title: 'build / config version', text: `${n.buildVersion || '–'} · ${n.configVersion || '–'}` })),
    h('td', {}, processorChips(n.processors),
      (n.sources || []).length ? h('div', { class: 'sub-list' }, sourceList(n.sources, split)) : null),
    h('td', { class: 'num', text: fmtNum(m.cpuUsage) + (m.cpuUsage != null ? '%' : '') }),
    h('td', { class: 'num', text: fmtNum(m.memoryUsage) + (m.memoryUsage != null ? '%' : '') }),
    h('td', { class: 'num', text: fmtNum(m.requestsPerSecond, 2) }),
    h('td', { class: 'num', text: m.averageResponseTime != null ? `${fmtNum(m.averageResponseTime, 1)} ms` : '–' }));
}

// fleetView is the page at #/.
export function fleetView() {
  const counts = h('div', { class: 'counts', 'data-testid': 'fleet-counts' });
  const body = h('tbody');
  const hint = h('div');
  const registry = registryLoader();
  const config = configEditor('fleet');
  const el = h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { text: 'Fleet' }), counts),
    h('section', { class: 'card', 'aria-labelledby': 'fleet-h' },
      h('h2', { id: 'fleet-h', text: 'Neurons' }),
      hint,
      h('div', { class: 'scroll' }, h('table', { class: 'table', 'data-testid': 'fleet-table' },
        h('thead', {}, h('tr', {}, ['Neuron', 'Status', 'Health', 'Last heartbeat', 'Version · build · config', 'Processors · registry sources', 'CPU', 'Memory', 'Req/s', 'Latency']
          .map((t, i) => h('th', { scope: 'col', class: i === 2 || i >= 6 ? 'num' : null, text: t })))),
        body))),
    registry.el,
    config.el);

  async function refresh() {
    const [neurons, overview] = await Promise.all([api('GET', '/api/admin/neurons'), api('GET', '/api/admin/overview')]);
    const now = overview.now ? new Date(overview.now).getTime() : Date.now();
    const by = overview.byStatus || {};
    const keys = [...statusOrder.filter((s) => by[s]), ...Object.keys(by).filter((s) => !statusOrder.includes(s) && by[s])];
    replace(counts, h('span', { class: 'count total', text: `${overview.neurons} neuron${overview.neurons === 1 ? '' : 's'}` }),
      keys.map((s) => h('span', { class: 'count' }, badge(s), ` ${by[s]}`)),
      h('span', { class: 'sub', text: `heartbeat every ${overview.heartbeatInterval}s` }));
    if (!neurons.length) {
      replace(body, h('tr', {}, h('td', { colspan: 10, class: 'empty', 'data-testid': 'fleet-empty' },
        'No neuron has registered yet. Start one with FEDERATION_URL pointing here.')));
    } else {
      const split = new Set((overview.sources || []).filter((x) => x.digests.length > 1).map((x) => x.ref));
      replace(body, neurons.map((n) => row(n, now, split)));
    }
    replace(hint, divergence(overview.sources));
    registry.update(neurons);
    await Promise.all([registry.refresh(), config.refresh()]);
  }
  return { el, refresh, title: 'Fleet' };
}
