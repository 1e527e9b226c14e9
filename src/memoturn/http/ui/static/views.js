// A profile's contents: memories (with supersession timelines), the recall playground,
// sessions and transcripts, KV spaces, documents. Each is one or two REST reads.
import { api, profile, seg } from "./api.js";
import { clear, errorBox, h, json, table, when } from "./dom.js";

const TYPES = ["fact", "preference", "task", "event", "instruction"];

function base(ctx) {
  return profile(ctx.ns, ctx.profile);
}

function read(ctx, path, query = {}) {
  return api("GET", base(ctx) + path, { query: { branch: ctx.branch, ...query } });
}

function loading() {
  return h("p", { class: "muted" }, "Loading…");
}

function state(m) {
  if (m.forgotten_reason) return h("span", { class: "tag gone" }, `forgotten: ${m.forgotten_reason}`);
  if (m.superseded_by) return h("span", { class: "tag old" }, "superseded");
  if (m.valid_to) return h("span", { class: "tag old" }, "retired");
  return h("span", { class: "tag now" }, "current");
}

// -- memories ---------------------------------------------------------------------------

export async function memoriesView(el, ctx) {
  const p = ctx.params;
  const field = (name, attrs = {}) =>
    h("input", { id: `filter-${name}`, name, value: p.get(name) || "", placeholder: name, ...attrs });
  const type = h("select", { id: "filter-type", name: "type" }, h("option", { value: "" }, "any type"),
    TYPES.map((t) => h("option", { value: t, selected: p.get("type") === t }, t)));
  const history = h("input", { id: "filter-history", type: "checkbox", checked: p.get("history") === "1" });
  const form = h("form", { class: "filters" }, type, field("topic"), field("source"), field("session_id"),
    h("label", {}, history, " include history"), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(["topic", "source", "session_id"].map((n) => [n, form.elements[n].value.trim()]));
    ctx.go("memories", { ...values, type: type.value, history: history.checked ? "1" : "" });
  });
  const list = h("div", {}, loading());
  const panel = h("div", { id: "history-panel" });
  clear(el, h("h2", {}, "Memories"), form, list, panel);
  const query = {
    type: p.get("type"), topic: p.get("topic"), source: p.get("source"), session_id: p.get("session_id"),
    include_history: p.get("history") === "1" ? "true" : null, limit: 100,
  };
  const rows = [];
  const more = async (cursor) => {
    const page = await read(ctx, "/memories", { ...query, cursor });
    rows.push(...page.memories);
    const columns = [
      { title: "type", cell: (m) => h("span", { class: `type ${m.type}` }, m.type) },
      { title: "content", cell: (m) => m.content, cls: "content" },
      { title: "topic", cell: (m) => (m.topic
        ? h("button", { class: "link topic-link", "data-topic": m.topic, onclick: () => showHistory(panel, ctx, m.topic) }, m.topic)
        : "") },
      { title: "source", cell: (m) => m.source || "" },
      { title: "session", cell: (m) => m.session_id || "" },
      { title: "created", cell: (m) => when(m.created_at) },
      { title: "state", cell: state },
    ];
    clear(list, h("p", { class: "muted" }, `${rows.length} memories at txid ${page.txid}`),
      table(columns, rows, (m) => ({ class: "memory", "data-id": m.id })),
      page.next_cursor ? h("button", { onclick: () => more(page.next_cursor).catch((e) => list.append(errorBox(e))) }, "Load more") : null);
  };
  await more(null);
  if (p.get("topic")) await showHistory(panel, ctx, p.get("topic"));
}

// A topic's versions as a supersession timeline, oldest first.
export async function showHistory(panel, ctx, topic) {
  clear(panel, h("h3", {}, `History of topic “${topic}”`), loading());
  try {
    const { versions } = await read(ctx, `/topics/${seg(topic)}/history`);
    const chain = h("ol", { class: "timeline" });
    versions.forEach((m, i) => {
      chain.append(h("li", { class: m.valid_to ? "version old" : "version now", "data-id": m.id },
        h("div", { class: "when" }, when(m.valid_from), " → ", m.valid_to ? when(m.valid_to) : "now"),
        h("div", { class: "content" }, m.content),
        h("div", { class: "meta" }, state(m), " ", m.type, m.source ? ` · ${m.source}` : "", ` · txid ${m.txid}`),
        i < versions.length - 1 && m.superseded_by ? h("div", { class: "arrow", title: `superseded by ${m.superseded_by}` }, "superseded by ↓") : null));
    });
    clear(panel, h("h3", {}, `History of topic “${topic}”`),
      h("p", { class: "muted" }, `${versions.length} versions, oldest first`), chain);
  } catch (e) {
    clear(panel, h("h3", {}, `History of topic “${topic}”`), errorBox(e));
  }
}

// -- recall -----------------------------------------------------------------------------

export async function recallView(el, ctx) {
  const q = h("input", { id: "recall-query", placeholder: "what do you want to recall?", value: ctx.params.get("q") || "" });
  const k = h("input", { id: "recall-k", type: "number", min: 1, max: 100, value: "10", class: "narrow" });
  const scopes = ["memories", "transcript", "documents"].map((sc) =>
    h("label", {}, h("input", { type: "checkbox", value: sc, class: "scope", checked: sc === "memories" }), ` ${sc}`));
  const halfLife = h("input", { id: "recall-half-life", type: "number", min: 1, placeholder: "recency half-life (s)", class: "mid" });
  const hist = h("input", { id: "recall-history", type: "checkbox" });
  const out = h("div", { id: "recall-results" });
  const form = h("form", { class: "filters" }, q, " k ", k, scopes, halfLife, h("label", {}, hist, " include history"),
    h("button", { id: "recall-run", type: "submit" }, "Recall"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!q.value.trim()) return;
    const body = {
      query: q.value,
      k: Number(k.value) || 10,
      scopes: scopes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      include_history: hist.checked,
    };
    if (!body.scopes.length) delete body.scopes;
    if (halfLife.value) body.recency_half_life_s = Number(halfLife.value);
    clear(out, loading());
    try {
      const r = await api("POST", base(ctx) + "/recall", { query: { branch: ctx.branch }, body });
      clear(out, hits(r));
    } catch (e) {
      clear(out, errorBox(e));
    }
  });
  clear(el, h("h2", {}, "Recall playground"),
    h("p", { class: "muted" }, "Hybrid recall as an agent gets it; each hit says why it matched."), form, out);
}

function bar(value, max = 1) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  const pct = Math.max(0, Math.min(1, value / max)) * 100;
  return h("span", { class: "bar" },
    h("span", { class: "track" }, h("span", { class: "fill", "data-pct": pct.toFixed(0) })), value.toFixed(3));
}

function rank(n) {
  return n === null || n === undefined ? h("span", { class: "muted" }, "–") : `#${n}`;
}

function hits(r) {
  const columns = [
    { title: "#", cell: (x) => String(x.i + 1) },
    { title: "score", cell: (x) => x.hit.score.toFixed(4) },
    { title: "relevance", cell: (x) => bar(x.hit.relevance) },
    { title: "scope", cell: (x) => x.hit.scope },
    { title: "content", cell: (x) => x.hit.memory.content, cls: "content" },
    { title: "keyword rank", cell: (x) => rank(x.hit.why.bm25_rank) },
    { title: "vector rank", cell: (x) => rank(x.hit.why.vector_rank) },
    { title: "similarity", cell: (x) => bar(x.hit.why.similarity) },
    { title: "recency", cell: (x) => bar(x.hit.why.recency) },
  ];
  const rows = r.results.map((hit, i) => ({ hit, i }));
  const t = table(columns, rows, () => ({ class: "hit" }));
  // Widths from data attributes (the page's policy allows no inline styles in markup).
  for (const f of t.querySelectorAll(".fill")) f.style.width = `${f.dataset.pct}%`;
  return h("div", {}, h("p", { class: "muted" }, `${rows.length} hits at txid ${r.txid}`), t);
}

// -- sessions ---------------------------------------------------------------------------

export async function sessionsView(el, ctx) {
  const list = h("div", {}, loading());
  const transcript = h("div", { id: "transcript" });
  clear(el, h("h2", {}, "Sessions"), list, transcript);
  const { sessions, txid } = await read(ctx, "/sessions", { limit: 1000 });
  const open = async (sid) => {
    clear(transcript, h("h3", {}, `Transcript of ${sid}`), loading());
    try {
      const { turns } = await read(ctx, `/sessions/${seg(sid)}/turns`, { limit: 1000 });
      clear(transcript, h("h3", {}, `Transcript of ${sid}`),
        turns.length ? h("ol", { class: "turns" }, turns.map((t) =>
          h("li", { class: `turn ${t.role}` }, h("div", { class: "meta" }, `${t.turn} · ${t.name || t.role} · ${when(t.created_at)}`),
            h("div", { class: "content" }, t.content)))) : h("p", { class: "muted" }, "(no turns)"));
    } catch (e) {
      clear(transcript, errorBox(e));
    }
  };
  clear(list, h("p", { class: "muted" }, `${sessions.length} sessions at txid ${txid}`),
    table([
      { title: "session", cell: (x) => h("button", { class: "link session-link", onclick: () => open(x.id) }, x.id) },
      { title: "created", cell: (x) => when(x.created_at) },
      { title: "state", cell: (x) => (x.ended_at ? `ended ${when(x.ended_at)}` : "open") },
      { title: "task TTL (s)", cell: (x) => (x.task_ttl_s ?? "") },
    ], sessions));
}

// -- KV ---------------------------------------------------------------------------------

export async function kvView(el, ctx) {
  const list = h("div", {}, loading());
  const keys = h("div", { id: "kv-keys" });
  clear(el, h("h2", {}, "KV spaces"), list, keys);
  const { spaces } = await read(ctx, "/kv", { limit: 100 });
  const open = async (space) => {
    clear(keys, h("h3", {}, `Space ${space}`), loading());
    try {
      const { items } = await read(ctx, `/kv/${seg(space)}`, { limit: 1000 });
      clear(keys, h("h3", {}, `Space ${space}`), table([
        { title: "key", cell: (i) => i.key },
        { title: "value", cell: (i) => h("code", {}, json(i.value)), cls: "content" },
        { title: "expires", cell: (i) => when(i.expires_at) },
        { title: "updated", cell: (i) => when(i.updated_at) },
      ], items));
    } catch (e) {
      clear(keys, errorBox(e));
    }
  };
  clear(list, table([
    { title: "space", cell: (x) => h("button", { class: "link kv-link", onclick: () => open(x.name) }, x.name) },
    { title: "keys", cell: (x) => String(x.keys) },
  ], spaces));
}

// -- documents --------------------------------------------------------------------------

export async function documentsView(el, ctx) {
  const list = h("div", {}, loading());
  const doc = h("div", { id: "document" });
  clear(el, h("h2", {}, "Documents"), list, doc);
  const { documents } = await read(ctx, "/documents", { limit: 100 });
  const open = async (id) => {
    clear(doc, loading());
    try {
      const { document: d } = await read(ctx, `/documents/${seg(id)}`);
      clear(doc, h("h3", {}, d.title || "(untitled)"), h("p", { class: "muted" }, `${d.id} · ${when(d.created_at)}`),
        h("pre", { class: "doc" }, d.content));
    } catch (e) {
      clear(doc, errorBox(e));
    }
  };
  clear(list, table([
    { title: "title", cell: (d) => h("button", { class: "link doc-link", onclick: () => open(d.id) }, d.title || "(untitled)") },
    { title: "chunks", cell: (d) => String(d.chunks) },
    { title: "bytes", cell: (d) => String(d.bytes) },
    { title: "created", cell: (d) => when(d.created_at) },
  ], documents));
}
