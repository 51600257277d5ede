// Small DOM and formatting helpers shared by the dashboard's views.

// h builds an element. attrs: "class", "text", "on<event>" handlers,
// "dataset" object, boolean attributes (true sets, false/null omits), others
// as attributes. Children may be nodes, strings, numbers, arrays or null.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace swaps the children of el for the given ones.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Status colours: each shown neuron status, command status and delivery
// status maps to one of a few tones styled in app.css.
const tones = {
  active: 'ok', succeeded: 'ok', applied: 'ok', running: 'ok', unchanged: 'ok',
  degraded: 'warn', stale: 'warn', pending: 'muted', delivered: 'info', draining: 'info',
  offline: 'bad', failed: 'bad', rejected: 'bad', stopping: 'muted', registered: 'muted', stopped: 'muted',
};

// badge is a coloured status label.
export function badge(status, testid) {
  const s = status || 'unknown';
  return h('span', { class: `badge tone-${tones[s] || 'muted'}`, 'data-testid': testid, 'data-status': s, text: s });
}

// fmtNum shows a number with at most `digits` decimals, "–" when absent.
export function fmtNum(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const n = Number(v);
  return Number.isInteger(n) ? n.toLocaleString('en') : n.toLocaleString('en', { maximumFractionDigits: digits });
}

// fmtTime shows an RFC 3339 time as local date and time.
export function fmtTime(s) {
  if (!s) return '–';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString('en-GB', { hour12: false });
}

// fmtAgo shows how long ago an RFC 3339 time was, against `now` (ms).
export function fmtAgo(s, now = Date.now()) {
  if (!s) return 'never';
  const sec = Math.round((now - new Date(s).getTime()) / 1000);
  if (sec < 0) return 'just now';
  if (sec < 60) return `${sec}s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ${sec % 60}s ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ${Math.floor((sec % 3600) / 60)}m ago`;
  return `${Math.floor(sec / 86400)}d ago`;
}

// timeCell is a <time> showing "N ago" with the exact time as tooltip.
export function timeAgo(s, now) {
  return h('time', { datetime: s || null, title: fmtTime(s), text: fmtAgo(s, now) });
}

// json shows a value as compact JSON in a <code>, the full text as tooltip.
export function json(v, max = 120) {
  if (v === null || v === undefined) return h('span', { class: 'muted', text: '–' });
  const s = JSON.stringify(v);
  return h('code', { class: 'json', title: s.length > max ? JSON.stringify(v, null, 2) : null, text: s.length > max ? s.slice(0, max) + '…' : s });
}

// parseProcessor splits "name@version+sha256:digest" into its parts.
function parseProcessor(s) {
  const at = s.lastIndexOf('@');
  const plus = s.indexOf('+', at);
  return {
    id: s,
    name: at > 0 ? s.slice(0, at) : s,
    version: at > 0 ? s.slice(at + 1, plus > 0 ? plus : undefined) : '',
    digest: plus > 0 ? s.slice(plus + 1) : '',
  };
}

// shortDigest shows "sha256:HEX" (or bare hex) as its first 12 hex digits,
// "–" when there is none.
export function shortDigest(d) {
  if (!d) return '–';
  const hex = d.replace(/^sha256:/, '');
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

// processorChips shows "name@version" and the module's short digest per
// loaded processor, the whole entry as tooltip.
export function processorChips(list) {
  if (!list || !list.length) return h('span', { class: 'muted', text: 'none' });
  return h('ul', { class: 'chips' }, list.map((s) => {
    const p = parseProcessor(s);
    return h('li', { class: 'chip', title: s, 'data-testid': 'processor', 'data-digest': p.digest },
      `${p.name}@${p.version}`, p.digest ? h('span', { class: 'digest', text: shortDigest(p.digest) }) : null);
  }));
}

// sourceList shows the registry references a neuron runs, each with the
// short digest of the artifact it runs (whole as tooltip); a reference
// in split (a Set of refs whose neurons run different digests) is marked.
export function sourceList(sources, split = new Set()) {
  if (!sources || !sources.length) return h('span', { class: 'muted', text: 'none' });
  return h('ul', { class: 'sources' }, sources.map((s) => h('li', {
    class: split.has(s.ref) ? 'split' : null, 'data-testid': 'source', 'data-ref': s.ref, 'data-digest': s.digest,
    title: split.has(s.ref) ? 'other neurons run another digest of this reference' : null,
  },
  h('code', { text: s.ref }), ' ',
  h('code', { class: 'digest', title: s.digest || 'the neuron reported no digest', text: shortDigest(s.digest) }))));
}

// processorVersions maps the distinct processor names of a neuron (or of
// several), sorted, with their versions.
export function processorVersions(list) {
  const byName = new Map();
  for (const p of (list || []).map(parseProcessor)) {
    if (!byName.has(p.name)) byName.set(p.name, []);
    if (!byName.get(p.name).includes(p.version)) byName.get(p.name).push(p.version);
  }
  return new Map([...byName.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

// message is an inline notice next to a form: kind "error" or "ok".
export function showMessage(el, kind, text) {
  el.className = `message ${kind}`;
  el.textContent = text || '';
  el.hidden = !text;
}

// markField flags the inputs of form whose data-field the API's field path
// ends with (the server says "experiment.variants[1].weight"); "" clears.
export function markField(form, field) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.setAttribute('aria-invalid', 'false');
  if (!field) return;
  for (const el of form.querySelectorAll('[data-field]')) {
    if (field === el.dataset.field || field.endsWith('.' + el.dataset.field)) el.setAttribute('aria-invalid', 'true');
  }
}

// deliveries lists, per neuron, the delivery status of an update.
export function deliveries(list) {
  if (!list || !list.length) return h('span', { class: 'muted', text: 'no neurons targeted' });
  return h('ul', { class: 'deliveries' }, list.map((d) =>
    h('li', { title: d.detail || null, 'data-testid': 'delivery', 'data-neuron-id': d.neuronId },
      h('a', { href: `#/neuron/${encodeURIComponent(d.neuronId)}`, text: d.neuronId }), ' ', badge(d.status),
      d.detail ? h('span', { class: 'detail', text: d.detail }) : null)));
}

// outcomeMessage says at once how a change fared, from the admin API's
// answer: [kind, text] for showMessage. A change a neuron refused is an
// error naming each neuron and its reasons, not a success; one queued
// (unreachable, offline) says the neuron gets it at its next poll.
export function outcomeMessage(saved, change) {
  const list = change.deliveries || [];
  if (change.outcome === 'refused') {
    const why = (change.refused || []).map((r) => `${r.neuronId}: ${r.reason}`).join('; ');
    return ['error', `${saved}, but refused by ${why}`];
  }
  if (change.outcome === 'queued') {
    const queued = list.filter((d) => d.status === 'pending').map((d) => `${d.neuronId} (${d.detail})`).join('; ');
    return ['info', `${saved}; queued for ${queued}`];
  }
  const states = list.map((d) => `${d.neuronId} ${d.status}`).join(', ');
  return ['ok', `${saved}${states ? ': ' + states : ''}.`];
}

// commandsMessage says at once how commands sent together fared, as
// outcomeMessage does for a change: [kind, text] for showMessage. A
// command a neuron refused or that failed is an error naming the neuron
// and its reason; one not finished yet says what it waits for.
export function commandsMessage(sent, cmds) {
  if (!cmds.length) return ['info', `${sent}: no neuron targeted`];
  const reason = (c) => (c.outcome && (c.outcome.error || (c.outcome.reasons || []).join('; '))) || c.status;
  const refused = cmds.filter((c) => c.status === 'failed' || c.status === 'rejected');
  const why = (c) => `${c.status === 'rejected' ? 'refused by' : 'failed on'} ${c.neuronId}: ${reason(c)}`;
  if (refused.length) return ['error', `${sent}, but ${refused.map(why).join('; ')}`];
  const open = cmds.filter((c) => c.status !== 'succeeded');
  if (open.length) return ['info', `${sent}; waiting for ${open.map((c) => `${c.neuronId} (${c.status})`).join(', ')}`];
  return ['ok', `${sent}: ${cmds.map((c) => `${c.neuronId} succeeded`).join(', ')}.`];
}
