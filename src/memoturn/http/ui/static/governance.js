// Governance of a profile: its effective policy, its audit stream (namespace token) and its
// erasures (where the node has them).
import { api, ns, profile } from "./api.js";
import { clear, errorBox, h, json, table, when } from "./dom.js";

const FIELDS = ["retention_s", "task_ttl_max_s", "ai_egress", "audit", "erasure_grace_s"];

export async function governanceView(el, ctx) {
  const policy = h("div", { id: "policy" }, h("p", { class: "muted" }, "Loading…"));
  const audit = h("div", { id: "audit" });
  const erasures = h("div", { id: "erasures" });
  clear(el, h("h2", {}, "Policy"), policy, h("h2", {}, "Audit stream"), audit, h("h2", {}, "Erasures"), erasures);
  await Promise.all([policyPart(policy, ctx), auditPart(audit, ctx), erasuresPart(erasures, ctx)]);
}

function show(v) {
  if (v === undefined) return h("span", { class: "muted" }, "(inherited)");
  if (v === null) return h("span", { class: "muted" }, "none");
  return String(v);
}

async function policyPart(el, ctx) {
  try {
    const p = await api("GET", profile(ctx.ns, ctx.profile) + "/policy", { query: { branch: ctx.branch } });
    clear(el, table([
      { title: "field", cell: (f) => h("code", {}, f) },
      { title: "namespace", cell: (f) => show(p.namespace[f]) },
      { title: "profile override", cell: (f) => show(p.profile[f]) },
      { title: "effective", cell: (f) => h("strong", {}, show(p.effective[f])) },
    ], FIELDS));
  } catch (e) {
    clear(el, errorBox(e));
  }
}

async function auditPart(el, ctx) {
  if (ctx.who && ctx.who.kind === "profile") {
    clear(el, h("p", { class: "muted" }, "The audit stream needs the namespace's token (or root); this is a profile token."));
    return;
  }
  const events = [];
  const more = async (cursor) => {
    const page = await api("GET", ns(ctx.ns) + "/audit", { query: { profile: ctx.profile, limit: 200, cursor } });
    events.push(...page.events);
    clear(el, h("p", { class: "muted" }, `${events.length} events, oldest first`),
      table([
        { title: "seq", cell: (e) => String(e.seq) },
        { title: "at", cell: (e) => when(e.at) },
        { title: "op", cell: (e) => h("code", {}, e.op) },
        { title: "branch", cell: (e) => e.branch || "" },
        { title: "actor", cell: (e) => actor(e.actor) },
        { title: "status", cell: (e) => String(e.status) },
        { title: "txid", cell: (e) => (e.txid ?? "") },
        { title: "count", cell: (e) => (e.count ?? "") },
      ], events, () => ({ class: "audit-event" })),
      page.next_cursor ? h("button", { id: "audit-more", onclick: () => more(page.next_cursor).catch((e) => el.append(errorBox(e))) }, "Load more") : null);
  };
  try {
    await more(null);
  } catch (e) {
    clear(el, errorBox(e));
  }
}

function actor(a) {
  if (!a || typeof a !== "object") return json(a);
  const who = a.kind === "root" ? "root" : a.subject || a.kind;
  return h("span", { title: json(a) }, who, a.token_id ? h("span", { class: "muted" }, ` · token ${a.token_id}`) : null);
}

function blocker(b) {
  // {kind, name, branch?, txid?}: "checkpoint backup (main, txid 2)"
  const where = [b.branch, b.txid != null ? `txid ${b.txid}` : null].filter(Boolean).join(", ");
  return `${b.kind} ${b.name}${where ? ` (${where})` : ""}`;
}

async function erasuresPart(el, ctx) {
  try {
    const { erasures } = await api("GET", profile(ctx.ns, ctx.profile) + "/erasures", { query: { branch: ctx.branch } });
    clear(el, table([
      { title: "id", cell: (x) => h("code", {}, x.id) },
      { title: "state", cell: (x) => h("span", { class: `tag ${x.state}` }, x.state) },
      { title: "blocked by", cell: (x) => (x.blocked_by || []).map(blocker).join(", ") },
      { title: "requested", cell: (x) => when(x.created_at || x.requested_at) },
      { title: "receipt", cell: (x) => (x.receipt ? "signed receipt" : "") },
    ], erasures, () => ({ class: "erasure" })));
  } catch (e) {
    if (e.status === 404) {
      clear(el, h("p", { class: "muted", id: "erasures-unavailable" }, "Erasures are not available on this node."));
    } else {
      clear(el, errorBox(e));
    }
  }
}
