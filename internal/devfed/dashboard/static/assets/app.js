// The dashboard's entry point: the admin token (from #token=... or the login
// form), hash routing (#/, #/neuron/ID, #/experiments[/ID]) and the live
// loop that refreshes the visible page every two seconds while the tab is
// visible.
import { api, getToken, setToken, clearToken, takeTokenFromHash, setUnauthorizedHandler, APIError } from './api.js';
import { h, replace, showMessage } from './dom.js';
import { fleetView } from './fleet.js';
import { neuronView } from './neuron.js';
import { experimentsView } from './experiments.js';

const pollEvery = 2000;
const root = document.getElementById('app');
let view = null; // the visible page: {el, refresh, title}

const live = h('span', { class: 'live', 'data-testid': 'live-status', 'data-state': 'idle', 'aria-live': 'polite' });
const banner = h('div', { class: 'banner', role: 'alert', 'data-testid': 'poll-error', hidden: true });

function setLive(state, text) {
  live.dataset.state = state;
  live.textContent = text;
}

function pageFor(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'neuron' && parts[1]) return neuronView(parts.slice(1).join('/'));
  if (parts[0] === 'experiments') return experimentsView(parts[1] || '');
  return fleetView();
}

function nav() {
  const section = location.hash.startsWith('#/experiments') ? 'experiments' : 'fleet';
  const link = (href, key, text) => h('a', { href, 'aria-current': section === key ? 'page' : null, text });
  return h('header', { class: 'top' },
    h('a', { href: '#/', class: 'brand', text: 'neuron federation' }),
    h('nav', { 'aria-label': 'Sections' }, link('#/', 'fleet', 'Fleet'), link('#/experiments', 'experiments', 'Experiments')),
    h('div', { class: 'right' }, live,
      h('button', { type: 'button', class: 'small', 'data-testid': 'sign-out', text: 'Sign out', onclick: () => { clearToken(); login('Signed out.'); } })));
}

// tick refreshes the visible page once, unless the tab is hidden or the
// previous refresh of the same page is still running.
async function tick() {
  const v = view;
  if (!v || v.busy) return;
  if (document.hidden) {
    setLive('paused', 'paused (tab hidden)');
    return;
  }
  v.busy = true;
  try {
    await v.refresh();
    if (v !== view) return;
    banner.hidden = true;
    setLive('live', `live · updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`);
  } catch (e) {
    if (v !== view || (e instanceof APIError && e.status === 401)) return;
    showMessage(banner, 'error', `Could not refresh: ${e instanceof APIError ? e.text : e.message || e}`);
    banner.className = 'banner';
    setLive('error', 'not updating');
  } finally {
    v.busy = false;
  }
}

function render() {
  if (!getToken()) {
    login('');
    return;
  }
  view = pageFor(location.hash);
  document.title = `${view.title} · neuron federation`;
  replace(root, nav(), banner, h('main', { id: 'main' }, view.el));
  banner.hidden = true;
  tick();
}

// login shows the token form with message (why the user is here).
function login(message) {
  view = null;
  document.title = 'Sign in · neuron federation';
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-token' });
  const msg = h('div', { class: 'message', role: 'alert', 'data-testid': 'login-message', hidden: true });
  if (message) showMessage(msg, 'error', message);
  const form = h('form', {
    class: 'login card', 'data-testid': 'login-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (!t) {
        showMessage(msg, 'error', 'Enter the admin token: `neuron federation serve` prints it, or set it with --admin-token / FEDERATION_ADMIN_TOKEN.');
        return;
      }
      setToken(t);
      try {
        await api('GET', '/api/admin/overview');
        render();
      } catch (e) {
        if (!(e instanceof APIError && e.status === 401)) showMessage(msg, 'error', e instanceof APIError ? e.text : String(e));
      }
    },
  },
  h('h1', { text: 'neuron federation' }),
  h('p', { class: 'sub', text: 'Admin dashboard. Sign in with the admin token the federation printed at start.' }),
  h('label', { for: 'token', text: 'Admin token' }), input, msg,
  h('button', { type: 'submit', class: 'primary', text: 'Sign in' }));
  replace(root, form);
  input.focus();
}

setUnauthorizedHandler((message) => login(`The federation refused the token: ${message}`));
takeTokenFromHash();
window.addEventListener('hashchange', () => {
  takeTokenFromHash();
  render();
});
document.addEventListener('visibilitychange', () => tick());
setInterval(tick, pollEvery);
render();
