// The fleet page: counts by status and one row per neuron, live.
import { api } from './api.js';
import { h, replace, badge, fmtNum, timeAgo, processorChips } from './dom.js';
import { configEditor } from './config.js';

const statusOrder = ['active', 'degraded', 'draining', 'stale', 'stopping', 'registered', 'offline'];

function row(n, now) {
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
    h('td', {}, processorChips(n.processors)),
    h('td', { class: 'num', text: fmtNum(m.cpuUsage) + (m.cpuUsage != null ? '%' : '') }),
    h('td', { class: 'num', text: fmtNum(m.memoryUsage) + (m.memoryUsage != null ? '%' : '') }),
    h('td', { class: 'num', text: fmtNum(m.requestsPerSecond, 2) }),
    h('td', { class: 'num', text: m.averageResponseTime != null ? `${fmtNum(m.averageResponseTime, 1)} ms` : '–' }));
}

// fleetView is the page at #/.
export function fleetView() {
  const counts = h('div', { class: 'counts', 'data-testid': 'fleet-counts' });
  const body = h('tbody');
  const config = configEditor('fleet');
  const el = h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { text: 'Fleet' }), counts),
    h('section', { class: 'card', 'aria-labelledby': 'fleet-h' },
      h('h2', { id: 'fleet-h', text: 'Neurons' }),
      h('div', { class: 'scroll' }, h('table', { class: 'table', 'data-testid': 'fleet-table' },
        h('thead', {}, h('tr', {}, ['Neuron', 'Status', 'Health', 'Last heartbeat', 'Version · build · config', 'Processors', 'CPU', 'Memory', 'Req/s', 'Latency']
          .map((t, i) => h('th', { scope: 'col', class: i === 2 || i >= 6 ? 'num' : null, text: t })))),
        body))),
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
      replace(body, neurons.map((n) => row(n, now)));
    }
    await config.refresh();
  }
  return { el, refresh, title: 'Fleet' };
}
