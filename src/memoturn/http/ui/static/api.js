// The public REST API, called with the token of this tab (sessionStorage: gone when the tab
// closes, never sent anywhere but this node).

const KEY = "memoturn.inspector.token";

export const tab = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  signIn(token) {
    sessionStorage.setItem(KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "";
    this.hint = e.hint || "";
  }
}

export async function api(method, path, { query = {}, body, token = tab.token } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query)) {
    if (v !== null && v !== undefined && v !== "" && v !== false) url.searchParams.set(k, String(v));
  }
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// What a token says it is (its claims, unverified: the node checks every call).
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const c = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    if (!["root", "namespace", "profile"].includes(c.kind)) return null;
    return c;
  } catch {
    return null;
  }
}

const seg = encodeURIComponent;

export function ns(name) {
  return `/v1/namespaces/${seg(name)}`;
}

export function profile(nsName, name) {
  return `${ns(nsName)}/profiles/${seg(name)}`;
}

export { seg };
