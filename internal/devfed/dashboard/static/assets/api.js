// The admin API client: the token lives in sessionStorage (gone when the
// tab closes), every call sends it as a bearer, and a 401 anywhere sends the
// user back to the login form with the server's message.

const tokenKey = 'neuron.federation.adminToken';

// APIError is a failed call: the HTTP status and the API's error, code and
// field (the JSON path of a 400).
export class APIError extends Error {
  constructor(status, message, code, field) {
    super(message);
    this.status = status;
    this.code = code || '';
    this.field = field || '';
  }

  // text is the message as shown next to a form: the field first.
  get text() {
    return this.field ? `${this.field}: ${this.message}` : this.message;
  }
}

let onUnauthorized = () => {};

// setUnauthorizedHandler installs what happens on a 401.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function getToken() {
  return sessionStorage.getItem(tokenKey) || '';
}

export function setToken(t) {
  sessionStorage.setItem(tokenKey, t);
}

export function clearToken() {
  sessionStorage.removeItem(tokenKey);
}

// takeTokenFromHash moves a "token=..." parameter of the address's hash
// into sessionStorage and removes it from the address bar (and history), so
// the token is neither bookmarked nor shown.
export function takeTokenFromHash() {
  const m = /(^#|[#&?])token=([^&]*)/.exec(location.hash);
  if (!m) return;
  setToken(decodeURIComponent(m[2]));
  let rest = location.hash.replace(/[&?]?token=[^&]*/, '').replace(/^#&/, '#');
  if (rest === '#' || rest === '') rest = '#/';
  history.replaceState(null, '', location.pathname + location.search + rest);
}

// api calls the admin API and returns the response's data; it throws an
// APIError with the server's message when the call fails.
export async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${getToken()}` }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, `the federation is unreachable (${e.message}); is it running?`, 'network');
  }
  let payload = null;
  try {
    payload = await res.json();
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok || !payload || payload.success === false) {
    const err = new APIError(res.status, (payload && payload.error) || `HTTP ${res.status} ${res.statusText}`,
      payload && payload.code, payload && payload.field);
    if (res.status === 401) {
      clearToken();
      onUnauthorized(err.message);
    }
    throw err;
  }
  return payload.data;
}

// query builds a query string from the defined values of params.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
