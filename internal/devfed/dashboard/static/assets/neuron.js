// A neuron's page: identity and status, command buttons, charts over time,
// analytics events, its experiments and its config editor.
import { api, query, APIError } from './api.js';
import { h, replace, badge, fmtNum, fmtTime, timeAgo, json, processorChips, sourceList } from './dom.js';
import { lineChart } from './chart.js';
import { commandPanel } from './commands.js';
import { configEditor } from './config.js';

const ranges = [['5m', 5], ['15m', 15], ['1h', 60], ['6h', 360], ['24h', 1440]];
const maxCustomCharts = 8;

function field(label, value, testid) {
  return h('div', { class: 'field' }, h('dt', { text: label }), h('dd', { 'data-testid': testid }, value));
}

function summary(n, now) {
  return h('dl', { class: 'fields' },
    field('Status', [badge(n.status, 'neuron-status'), n.reportedStatus && n.reportedStatus !== n.status ? ` reported ${n.reportedStatus}` : '']),
    field('Health score', fmtNum(n.healthScore, 0), 'neuron-health'),
    field('Last heartbeat', timeAgo(n.lastHeartbeat, now), 'neuron-heartbeat'),
    field('Registered', fmtTime(n.registeredAt)),
    field('Address', n.baseUrl ? h('code', { text: n.baseUrl }) : '–'),
    field('Type · language', `${n.type || '–'} · ${n.language || '–'}`),
    field('Version', n.version || '–'),
    field('Build', n.buildVersion || '–'),
    field('Config version', n.configVersion ? h('code', { text: n.configVersion }) : '–', 'neuron-config-version'),
    field('Processors', processorChips(n.processors), 'neuron-processors'),
    field('Registry sources', sourceList(n.sources), 'neuron-sources'),
    field('Endpoints', (n.endpoints || []).length
      ? h('ul', { class: 'endpoints' }, n.endpoints.map((e) => h('li', { title: e.description || null }, h('span', { class: 'method', text: e.method }), ' ', h('code', { text: e.path }))))
      : h('span', { class: 'muted', text: 'none' })));
}

// charts draws the neuron's series. The time axis spans the chosen range,
// or less when the data starts later (a young neuron fills its charts).
function charts(hbs, reports, since, to) {
  const pts = (rows, key) => rows.map((r) => [new Date(r.at).getTime(), r[key]]);
  const first = Math.min(...[hbs, reports].filter((rows) => rows.length).map((rows) => new Date(rows[0].at).getTime()));
  const from = Number.isFinite(first) && first > since ? first - (to - first) * 0.02 : since;
  const out = [
    lineChart({ title: 'CPU', unit: '%', series: [{ name: 'cpu', points: pts(hbs, 'cpuUsage') }], from, to, testid: 'chart-cpu' }),
    lineChart({ title: 'Memory', unit: '%', series: [{ name: 'memory', points: pts(hbs, 'memoryUsage') }], from, to, testid: 'chart-memory' }),
    lineChart({ title: 'Requests per second', unit: 'req/s', series: [{ name: 'rps', points: pts(hbs, 'requestsPerSecond') }], from, to, testid: 'chart-rps' }),
    lineChart({ title: 'Average latency', unit: 'ms', series: [{ name: 'latency', points: pts(hbs, 'averageResponseTime') }], from, to, testid: 'chart-latency' }),
    lineChart({ title: 'Requests per analytics report', series: [
      { name: 'total', points: pts(reports, 'totalRequests') },
      { name: 'failed', points: pts(reports, 'failedRequests') }], from, to, testid: 'chart-requests' }),
    lineChart({ title: 'Health score', series: [{ name: 'health', points: pts(hbs, 'healthScore') }], from, to, max: 100, testid: 'chart-health' }),
  ];
  const keys = [...new Set(reports.flatMap((r) => Object.keys(r.customMetrics || {})))].sort().slice(0, maxCustomCharts);
  for (const k of keys) {
    out.push(lineChart({ title: k, series: [{ name: k, points: reports.map((r) => [new Date(r.at).getTime(), (r.customMetrics || {})[k]]) }],
      from, to, testid: 'chart-custom' }));
  }
  return out;
}

function eventRows(events) {
  if (!events.length) return h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'No events in this range.' }));
  return events.map((e) => h('tr', { 'data-testid': 'event-row', 'data-event-type': e.type },
    h('td', { class: 'time', title: `received ${fmtTime(e.receivedAt)}`, text: fmtTime(e.timestamp) }),
    h('td', {}, h('span', { class: 'event-type', text: e.type })),
    h('td', { class: 'nowrap', text: e.plugin ? `${e.plugin}${e.version ? '@' + e.version : ''}` : '–' }),
    h('td', {}, json(e.data, 140))));
}

function experimentRows(list) {
  if (!list || !list.length) return h('p', { class: 'muted' }, 'No experiment targets this neuron. ', h('a', { href: '#/experiments', text: 'Start one' }), '.');
  return h('ul', { class: 'plain' }, list.map((x) => h('li', {},
    h('a', { href: `#/experiments/${encodeURIComponent(x.id)}`, text: x.id }), ' ', badge(x.status),
    h('span', { class: 'sub', text: ` target ${x.target}${x.spec && x.spec.plugin ? ', ' + x.spec.plugin : ''}` }))));
}

// neuronView is the page at #/neuron/ID.
export function neuronView(id) {
  let range = 15;
  let eventType = '';
  const knownTypes = new Set();
  const head = h('div', { class: 'card' });
  const title = h('h1', { 'data-testid': 'neuron-title', text: id });
  const commands = commandPanel(id);
  const rangeSel = h('select', { id: 'range', 'data-testid': 'range', onchange: () => { range = Number(rangeSel.value); view.refresh(); } },
    ranges.map(([label, min]) => h('option', { value: min, selected: min === range, text: `last ${label}` })));
  const grid = h('div', { class: 'charts', 'data-testid': 'charts' });
  const typeSel = h('select', { id: 'event-type', onchange: () => { eventType = typeSel.value; view.refresh(); } });
  const events = h('tbody');
  const experiments = h('div');
  const effective = h('pre', { class: 'code', 'data-testid': 'effective-update' });
  const config = configEditor(id);

  const el = h('div', { class: 'page', 'data-testid': 'neuron-page' },
    h('div', { class: 'page-head' }, h('div', {}, h('a', { href: '#/', class: 'back', text: '← Fleet' }), title)),
    head,
    commands.el,
    h('section', { class: 'card', 'aria-labelledby': 'charts-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'charts-h', text: 'Metrics' }),
        h('span', {}, h('label', { for: 'range', text: 'Range ' }), rangeSel)),
      grid),
    h('section', { class: 'card', 'aria-labelledby': 'events-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'events-h', text: 'Analytics events' }),
        h('span', {}, h('label', { for: 'event-type', text: 'Type ' }), typeSel)),
      h('div', { class: 'scroll tall' }, h('table', { class: 'table', 'data-testid': 'events-table' },
        h('thead', {}, h('tr', {}, ['Time', 'Type', 'Processor', 'Data'].map((t) => h('th', { scope: 'col', text: t })))),
        events))),
    h('div', { class: 'two' },
      h('section', { class: 'card', 'aria-labelledby': 'exp-h' }, h('h2', { id: 'exp-h', text: 'Experiments' }), experiments),
      h('section', { class: 'card', 'aria-labelledby': 'eff-h' }, h('h2', { id: 'eff-h', text: 'Effective update' }),
        h('p', { class: 'sub', text: 'What the neuron gets on its next poll or push: fleet config overlaid by its own, its experiment and its oldest open command.' }),
        effective)),
    config.el);

  function updateTypes() {
    const keep = typeSel.value;
    replace(typeSel, h('option', { value: '', text: 'all' }), [...knownTypes].sort().map((t) => h('option', { value: t, text: t })));
    typeSel.value = keep;
  }

  const view = {
    el,
    title: id,
    async refresh() {
      const enc = encodeURIComponent(id);
      let detail;
      try {
        detail = await api('GET', `/api/admin/neurons/${enc}`);
      } catch (e) {
        if (e instanceof APIError && e.status === 404) {
          replace(head, h('p', { class: 'message error', 'data-testid': 'neuron-missing', text: e.message }));
          return;
        }
        throw e;
      }
      const overview = await api('GET', '/api/admin/overview');
      const now = overview.now ? new Date(overview.now).getTime() : Date.now();
      const since = new Date(now - range * 60000).toISOString();
      const [hbs, reports, evs] = await Promise.all([
        api('GET', `/api/admin/neurons/${enc}/heartbeats${query({ since, limit: 2000 })}`),
        api('GET', `/api/admin/neurons/${enc}/analytics${query({ since, limit: 2000 })}`),
        api('GET', `/api/admin/neurons/${enc}/events${query({ since, limit: 50, type: eventType })}`),
      ]);
      title.textContent = detail.name && detail.name !== detail.id ? `${detail.name} (${detail.id})` : detail.id;
      replace(head, summary(detail, now));
      commands.update(detail);
      replace(grid, charts(hbs, reports, now - range * 60000, now));
      const before = knownTypes.size;
      for (const e of evs) knownTypes.add(e.type);
      if (knownTypes.size !== before || !typeSel.options.length) updateTypes();
      replace(events, eventRows(evs));
      replace(experiments, experimentRows(detail.experiments));
      effective.textContent = detail.effectiveUpdate ? JSON.stringify(detail.effectiveUpdate, null, 2) : 'Nothing: no config, experiment or open command for this neuron.';
      await config.refresh();
    },
  };
  commands.onSent = () => view.refresh();
  return view;
}
