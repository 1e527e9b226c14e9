// The inspector's shell: sign-in, the hash routes, the namespace and profile pages.
import { api, claims, ns, tab } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { governanceView } from "./governance.js";
import { historyView } from "./history.js";
import { documentsView, kvView, memoriesView, recallView, sessionsView } from "./views.js";

const VIEWS = [
  ["memories", "Memories", memoriesView],
  ["recall", "Recall", recallView],
  ["sessions", "Sessions", sessionsView],
  ["kv", "KV", kvView],
  ["documents", "Documents", documentsView],
  ["history", "History", historyView],
  ["governance", "Governance", governanceView],
];

const main = document.getElementById("main");

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

export function go(parts, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  location.hash = "#/" + parts.map(encodeURIComponent).join("/") + (q ? "?" + q : "");
}

function goAndRender(parts) {
  const before = location.hash;
  go(parts);
  if (location.hash === before) render(); // else hashchange renders
}

function header(who) {
  const out = document.getElementById("sign-out");
  out.hidden = !who;
  out.onclick = () => {
    tab.signOut();
    goAndRender([]);
  };
  const label = !who
    ? ""
    : who.kind === "root"
      ? "root token"
      : who.kind === "namespace"
        ? `namespace ${who.ns}`
        : `profile ${who.ns}/${who.profile}` + (who.branch ? ` @${who.branch}` : "") +
          ` (${(who.scopes || []).join(", ")})`;
  document.getElementById("who").textContent = label;
}

function signIn(message) {
  header(null);
  const input = h("input", {
    id: "token", type: "password", autocomplete: "off", placeholder: "a root, namespace or profile token",
    "aria-label": "token",
  });
  const status = h("div", { id: "sign-in-status" }, message ? errorBox(message) : null);
  const form = h(
    "form",
    { class: "card sign-in", id: "sign-in-form" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "The token stays in this tab only (session storage) and is sent to this node only. " +
      "You see exactly what it may see."),
    input,
    h("button", { id: "sign-in", type: "submit" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    const who = claims(token);
    if (!who) {
      clear(status, errorBox({ message: "that is not a Memoturn token" }));
      return;
    }
    try {
      await probe(token, who);
    } catch (e) {
      clear(status, errorBox(e));
      return;
    }
    tab.signIn(token);
    goAndRender(home(who));
  });
  clear(main, form);
  input.focus();
}

// One call the token may make, so a bad token is refused at sign-in.
function probe(token, who) {
  if (who.kind === "root") return api("GET", "/v1/namespaces", { token });
  if (who.kind === "namespace") return api("GET", `${ns(who.ns)}/profiles`, { token, query: { limit: 1 } });
  return api("GET", `${ns(who.ns)}/profiles/${encodeURIComponent(who.profile)}/checkpoints`, {
    token,
    query: { branch: who.branch || "main" },
  });
}

function home(who) {
  if (who.kind === "profile") return ["p", who.ns, who.profile, "memories"];
  if (who.kind === "namespace") return ["ns", who.ns];
  return [];
}

async function namespacesPage() {
  const body = h("div", { class: "card" }, h("h1", {}, "Namespaces"), h("p", { class: "muted" }, "Loading…"));
  clear(main, body);
  try {
    const { namespaces } = await api("GET", "/v1/namespaces");
    clear(
      body,
      h("h1", {}, "Namespaces"),
      namespaces.length
        ? h("ul", { class: "links" }, namespaces.map((n) =>
            h("li", {}, h("a", { href: `#/ns/${encodeURIComponent(n)}`, class: "ns-link" }, n))))
        : h("p", { class: "muted" }, "(no namespaces)"),
    );
  } catch (e) {
    clear(body, h("h1", {}, "Namespaces"), errorBox(e));
  }
}

async function profilesPage(nsName) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  clear(main, h("div", { class: "card" }, crumbs([nsName]), h("h1", {}, `Profiles of ${nsName}`), list));
  try {
    const names = [];
    let cursor = null;
    do {
      const page = await api("GET", `${ns(nsName)}/profiles`, { query: { limit: 1000, cursor } });
      names.push(...page.profiles);
      cursor = page.next_cursor;
    } while (cursor && names.length < 10000);
    clear(
      list,
      names.length
        ? h("ul", { class: "links", id: "profiles" }, names.map((p) =>
            h("li", {}, h("a", {
              class: "profile-link", href: `#/p/${encodeURIComponent(nsName)}/${encodeURIComponent(p)}/memories`,
            }, p))))
        : h("p", { class: "muted" }, "(no profiles)"),
    );
  } catch (e) {
    clear(list, errorBox(e));
  }
}

function crumbs(parts) {
  const who = claims(tab.token);
  const items = [];
  if (who && who.kind === "root") items.push(h("a", { href: "#/" }, "namespaces"));
  if (parts[0]) {
    items.push(who && who.kind !== "profile"
      ? h("a", { href: `#/ns/${encodeURIComponent(parts[0])}` }, parts[0])
      : h("span", {}, parts[0]));
  }
  if (parts[1]) items.push(h("span", {}, parts[1]));
  return h("nav", { class: "crumbs" }, items.flatMap((x, i) => (i ? [" / ", x] : [x])));
}

async function profilePage(nsName, name, view, params) {
  const who = claims(tab.token);
  const branch = params.get("branch") || (who && who.branch) || "main";
  const ctx = { ns: nsName, profile: name, branch, who, params, go: (v, extra = {}) =>
    go(["p", nsName, name, v], { branch: branch === "main" ? "" : branch, ...extra }) };
  const branchSelect = h("select", { id: "branch", "aria-label": "branch" }, h("option", { value: branch }, branch));
  branchSelect.addEventListener("change", () => go(["p", nsName, name, view], { branch: branchSelect.value }));
  const tabs = h("nav", { class: "tabs" }, VIEWS.map(([id, title]) =>
    h("a", {
      href: `#/p/${encodeURIComponent(nsName)}/${encodeURIComponent(name)}/${id}` +
        (branch !== "main" ? `?branch=${encodeURIComponent(branch)}` : ""),
      class: id === view ? "tab active" : "tab", "data-view": id,
    }, title)));
  const content = h("section", { id: "view", class: "view" });
  clear(
    main,
    h("div", { class: "profile-head" }, crumbs([nsName, name]), h("label", { class: "branch" }, "branch ", branchSelect)),
    tabs,
    content,
  );
  if (!who || !who.branch) fillBranches(ctx, branchSelect);
  const found = VIEWS.find(([id]) => id === view) || VIEWS[0];
  try {
    await found[2](content, ctx);
  } catch (e) {
    content.append(errorBox(e));
  }
}

async function fillBranches(ctx, select) {
  try {
    const { branches } = await api("GET", `${ns(ctx.ns)}/profiles/${encodeURIComponent(ctx.profile)}/branches`);
    clear(select, branches.map((b) => h("option", { value: b.name, selected: b.name === ctx.branch }, b.name)));
  } catch {
    // A token that may not list branches keeps the one it names.
  }
}

export async function render() {
  const token = tab.token;
  if (!token) return signIn();
  const who = claims(token);
  if (!who) {
    tab.signOut();
    return signIn({ message: "the stored token is not a Memoturn token" });
  }
  header(who);
  const { parts, params } = route();
  if (parts[0] === "p" && parts.length >= 3) return profilePage(parts[1], parts[2], parts[3] || "memories", params);
  if (parts[0] === "ns" && parts[1]) return profilesPage(parts[1]);
  if (who.kind !== "root") return go(home(who));
  return namespacesPage();
}

window.addEventListener("hashchange", () => render());
render();
