// lineChart draws time series as an inline SVG line chart: a time axis, the
// minimum and maximum of the value axis, one line per series (broken where
// data is missing), and the nearest values under the pointer.
import { h, fmtNum } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 480, H = 170, L = 52, R = 12, T = 12, B = 24;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function clock(ms, withSeconds) {
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false, hour: '2-digit', minute: '2-digit', second: withSeconds ? '2-digit' : undefined });
}

// nice rounds a positive span up to 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8
// times a power of ten, so the axis labels are round numbers.
function nice(span) {
  const mag = 10 ** Math.floor(Math.log10(span));
  return mag * [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * mag >= span);
}

// segments splits points where the gap to the previous one is much larger
// than usual, so that a neuron that went quiet shows a hole, not a ramp.
function segments(points) {
  if (points.length < 3) return [points];
  const gaps = points.slice(1).map((p, i) => p[0] - points[i][0]).sort((a, b) => a - b);
  const limit = gaps[Math.floor(gaps.length / 2)] * 4;
  const out = [[points[0]]];
  for (let i = 1; i < points.length; i++) {
    if (points[i][0] - points[i - 1][0] > limit) out.push([]);
    out[out.length - 1].push(points[i]);
  }
  return out;
}

// lineChart returns a <figure>. opts: title, unit, series [{name, points:
// [[timeMs, value], ...]}] (points oldest first, null values skipped),
// from/to (ms, the time axis), max (the top of the value axis when the data
// stays below it, such as 100 for a score), testid.
export function lineChart({ title, unit = '', series, from, to, max, testid }) {
  const data = series.map((sr) => ({ ...sr, points: sr.points.filter((p) => p[1] !== null && p[1] !== undefined && !Number.isNaN(p[1])) }));
  const all = data.flatMap((sr) => sr.points.map((p) => p[1]));
  const fig = h('figure', { class: 'chart', 'data-testid': testid });
  const last = data.length === 1 && data[0].points.length ? data[0].points[data[0].points.length - 1][1] : null;
  fig.append(h('figcaption', {},
    h('span', { class: 'chart-title', text: title }),
    last !== null ? h('span', { class: 'chart-last', text: `${fmtNum(last, 2)} ${unit}`.trim() }) : null));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title} over time` });
  fig.append(svg);
  const plotW = W - L - R, plotH = H - T - B;
  svg.append(s('rect', { x: L, y: T, width: plotW, height: plotH, class: 'plot' }));
  if (!all.length || !(to > from)) {
    svg.append(s('text', { x: L + plotW / 2, y: T + plotH / 2, class: 'empty', 'text-anchor': 'middle' }, 'No data in this range'));
    return fig;
  }
  let lo = Math.min(...all), hi = Math.max(...all);
  if (lo >= 0) lo = 0;
  if (hi === lo) hi = lo + (hi === 0 ? 1 : Math.abs(hi) * 0.1);
  hi = max !== undefined && hi <= max ? max : lo + nice((hi - lo) * 1.05);
  const x = (t) => L + ((t - from) / (to - from)) * plotW;
  const y = (v) => T + plotH - ((v - lo) / (hi - lo)) * plotH;

  // Value axis: minimum, middle, maximum.
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(s('line', { x1: L, x2: L + plotW, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmtNum(v, 2)));
  }
  // Time axis: five ticks.
  const withSeconds = to - from <= 2 * 3600 * 1000;
  for (let i = 0; i <= 4; i++) {
    const t = from + ((to - from) * i) / 4;
    svg.append(s('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'axis' }, clock(t, withSeconds)));
  }
  data.forEach((sr, i) => {
    for (const seg of segments(sr.points)) {
      if (seg.length === 1) svg.append(s('circle', { cx: x(seg[0][0]), cy: y(seg[0][1]), r: 2.5, class: `dot series-${i % 6}` }));
      else svg.append(s('polyline', { points: seg.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' '), class: `line series-${i % 6}` }));
    }
  });

  // Hover: the values nearest in time to the pointer.
  const cursor = s('line', { y1: T, y2: T + plotH, class: 'cursor', visibility: 'hidden' });
  const label = s('text', { y: T + 12, class: 'hover-label', visibility: 'hidden' });
  const overlay = s('rect', { x: L, y: T, width: plotW, height: plotH, class: 'overlay' });
  overlay.addEventListener('mousemove', (ev) => {
    const box = svg.getBoundingClientRect();
    const t = from + (((ev.clientX - box.left) * (W / box.width) - L) / plotW) * (to - from);
    const parts = [];
    let at = null;
    for (const sr of data) {
      let best = null;
      for (const p of sr.points) if (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (!best) continue;
      at = at ?? best[0];
      parts.push(`${data.length > 1 ? sr.name + ' ' : ''}${fmtNum(best[1], 2)}${unit ? ' ' + unit : ''}`);
    }
    if (at === null) return;
    const px = x(at);
    cursor.setAttribute('x1', px);
    cursor.setAttribute('x2', px);
    label.textContent = `${clock(at, true)}  ${parts.join(' · ')}`;
    const right = px > L + plotW / 2;
    label.setAttribute('x', right ? px - 6 : px + 6);
    label.setAttribute('text-anchor', right ? 'end' : 'start');
    cursor.setAttribute('visibility', 'visible');
    label.setAttribute('visibility', 'visible');
  });
  overlay.addEventListener('mouseleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    label.setAttribute('visibility', 'hidden');
  });
  svg.append(cursor, label, overlay);
  if (data.length > 1) {
    fig.append(h('ul', { class: 'legend' }, data.map((sr, i) => h('li', {}, h('span', { class: `swatch series-${i % 6}` }), sr.name))));
  }
  return fig;
}
