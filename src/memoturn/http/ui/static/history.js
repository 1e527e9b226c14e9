// The branch-and-checkpoint graph of a profile on a time axis, and the diff of memories
// between any two of its points (GET P/diff).
import { api, profile } from "./api.js";
import { clock, clear, errorBox, h, s, table, when } from "./dom.js";

const STEP = 92;
const LANE = 74;
const LEFT = 120;
const TOP = 56;

export async function historyView(el, ctx) {
  const base = profile(ctx.ns, ctx.profile);
  const graph = h("div", { id: "graph", class: "graph" }, h("p", { class: "muted" }, "Loading…"));
  const from = h("select", { id: "diff-from", "aria-label": "from" });
  const to = h("select", { id: "diff-to", "aria-label": "to" });
  const result = h("div", { id: "diff-result" });
  const run = h("button", { id: "diff-run", type: "submit" }, "Compare");
  const form = h("form", { class: "filters" }, "from ", from, " to ", to, run);
  clear(el, h("h2", {}, "History"),
    h("p", { class: "muted" }, "Branches (lanes) and checkpoints in time order; ◆ marks a rewind " +
      "(its undo checkpoint holds the state just before). Click two points, or pick them below, to compare their memories."),
    graph, h("h3", {}, "Diff of memories"), form, result);

  const compare = async () => {
    if (!from.value || !to.value) return;
    clear(result, h("p", { class: "muted" }, "Comparing…"));
    try {
      const d = await api("GET", base + "/diff", { query: { branch: ctx.branch, from: from.value, to: to.value } });
      clear(result, diffView(d));
    } catch (e) {
      clear(result, errorBox(e));
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    compare();
  });

  const lockedTo = ctx.who && ctx.who.branch;
  const branches = lockedTo
    ? [{ name: lockedTo, parent: null, parent_txid: null, created_at: null, expires_at: null, txid: null }]
    : (await api("GET", base + "/branches")).branches;
  const checkpoints = {};
  await Promise.all(branches.map(async (b) => {
    checkpoints[b.name] = (await api("GET", base + "/checkpoints", { query: { branch: b.name } })).checkpoints;
  }));
  const points = [];
  for (const b of branches) {
    points.push({ spec: `branch:${b.name}`, label: `${b.name} head` + (b.txid !== null ? ` (txid ${b.txid})` : "") });
    for (const c of checkpoints[b.name]) {
      points.push({ spec: `checkpoint:${b.name}/${c.name}`, label: `${b.name} / ${c.name} (txid ${c.txid})` });
    }
  }
  const options = points.map((p) => h("option", { value: p.spec }, p.label));
  clear(from, options.map((o) => o.cloneNode(true)));
  clear(to, options.map((o) => o.cloneNode(true)));
  const first = points.find((p) => p.spec.startsWith("checkpoint:"));
  if (first) from.value = first.spec;
  to.value = `branch:${ctx.branch}`;
  let picking = "from";
  const pick = (spec) => {
    (picking === "from" ? from : to).value = spec;
    if (picking === "to") compare();
    picking = picking === "from" ? "to" : "from";
  };
  clear(graph, drawGraph(branches, checkpoints, pick));
}

function drawGraph(branches, checkpoints, pick) {
  // Every event on one axis in time order, evenly spaced and labelled with its time.
  const events = [];
  const byName = Object.fromEntries(branches.map((b) => [b.name, b]));
  for (const b of branches) {
    if (b.created_at) events.push({ t: b.created_at, kind: "fork", branch: b.name });
    for (const c of checkpoints[b.name]) {
      events.push({ t: c.created_at, kind: c.automatic ? "rewind" : "checkpoint", branch: b.name, c });
    }
  }
  events.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  const slot = new Map();
  events.forEach((e, i) => slot.set(e, i));
  const headSlot = events.length;
  const lanes = [...branches].sort((a, b) => (a.name === "main" ? -1 : b.name === "main" ? 1 : (a.created_at || "").localeCompare(b.created_at || "")));
  const lane = Object.fromEntries(lanes.map((b, i) => [b.name, i]));
  const x = (i) => LEFT + i * STEP;
  const y = (name) => TOP + lane[name] * LANE;
  const width = x(headSlot) + 140;
  const height = TOP + lanes.length * LANE + 30;
  const root = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "branches and checkpoints" });

  // the time axis
  const axisY = height - 22;
  root.append(s("line", { x1: LEFT - 20, y1: axisY, x2: x(headSlot) + 20, y2: axisY, class: "axis" }));
  events.forEach((e, i) => root.append(
    s("line", { x1: x(i), y1: axisY - 4, x2: x(i), y2: axisY + 4, class: "axis" }),
    s("text", { x: x(i), y: axisY + 16, class: "tick" }, clock(e.t))));
  root.append(s("text", { x: x(headSlot), y: axisY + 16, class: "tick" }, "now"));

  for (const b of lanes) {
    const start = b.created_at ? slot.get(events.find((e) => e.kind === "fork" && e.branch === b.name)) : 0;
    const yb = y(b.name);
    root.append(s("text", { x: 12, y: yb + 4, class: "lane-label" }, b.name));
    root.append(s("line", { x1: x(start), y1: yb, x2: x(headSlot), y2: yb, class: `lane lane-${lane[b.name] % 5}` }));
    if (b.parent && byName[b.parent]) {
      const yp = y(b.parent);
      // From the parent's checkpoint at the fork's txid when there is one, else from the
      // parent's line just before the branch was made.
      const at = events.find((e) => e.c && e.branch === b.parent && e.c.txid === b.parent_txid && !e.c.automatic);
      const x0 = at && slot.get(at) < start ? x(slot.get(at)) : x(start) - STEP * 0.6;
      const mid = (x0 + x(start)) / 2;
      root.append(s("path", {
        d: `M ${x0} ${yp} C ${mid} ${yp}, ${mid} ${yb}, ${x(start)} ${yb}`,
        class: `fork lane-${lane[b.name] % 5}`,
      }, s("title", {}, `${b.name} forked from ${b.parent} at txid ${b.parent_txid}`)));
      root.append(s("text", { x: x(start) + 6, y: yb + 16, class: "note" }, `from ${b.parent}@${b.parent_txid}`));
    }
    const head = s("g", { class: "point head", "data-spec": `branch:${b.name}`, tabindex: 0 },
      s("rect", { x: x(headSlot) - 7, y: yb - 7, width: 14, height: 14, rx: 3 }),
      s("text", { x: x(headSlot) + 12, y: yb + 4 }, b.txid !== null ? `head txid ${b.txid}` : "head"),
      s("title", {}, `head of ${b.name}`));
    head.addEventListener("click", () => pick(`branch:${b.name}`));
    root.append(head);
  }
  for (const e of events) {
    if (e.kind === "fork") continue;
    const cx = x(slot.get(e));
    const cy = y(e.branch);
    const spec = `checkpoint:${e.branch}/${e.c.name}`;
    const mark = e.kind === "rewind"
      ? s("path", { d: `M ${cx} ${cy - 9} L ${cx + 9} ${cy} L ${cx} ${cy + 9} L ${cx - 9} ${cy} Z` })
      : s("circle", { cx, cy, r: 7 });
    const label = e.kind === "rewind" ? `rewind @${e.c.name.replace("undo-rewind-", "")}` : e.c.name;
    const g = s("g", { class: `point ${e.kind}`, "data-spec": spec, tabindex: 0 }, mark,
      s("text", { x: cx, y: cy - 14, class: "point-label" }, label),
      s("title", {}, e.kind === "rewind"
        ? `rewound at txid ${e.c.name.replace("undo-rewind-", "")}; undo checkpoint ${e.c.name} holds txid ${e.c.txid}, ${when(e.t)}`
        : `checkpoint ${e.c.name}: txid ${e.c.txid}, ${when(e.t)}`));
    g.addEventListener("click", () => pick(spec));
    root.append(g);
  }
  return root;
}

function memoryRows(memories, sign) {
  return memories.map((m) => ({ sign, m }));
}

export function diffView(d) {
  const a = d.from_point;
  const b = d.to_point;
  const columns = [
    { title: "", cell: (r) => h("span", { class: `sign ${r.cls}` }, r.sign), cls: "narrow" },
    { title: "type", cell: (r) => r.m.type },
    { title: "content", cell: (r) => r.content || r.m.content, cls: "content" },
    { title: "topic", cell: (r) => r.m.topic || "" },
    { title: "txid", cell: (r) => String(r.m.txid) },
  ];
  const rows = [
    ...memoryRows(d.added, "+").map((r) => ({ ...r, cls: "added" })),
    ...memoryRows(d.removed, "−").map((r) => ({ ...r, cls: "removed" })),
    ...d.changed.map((c) => ({
      sign: "~", cls: "changed", m: c.after,
      content: h("span", {}, c.after.content, h("span", { class: "muted" }, ` (changed: ${c.fields.join(", ")})`),
        h("div", { class: "muted" }, c.fields.map((f) => `${f}: ${JSON.stringify(c.before[f])} → ${JSON.stringify(c.after[f])}`).join("; "))),
    })),
  ];
  return h("div", {},
    h("p", { class: "diff-summary" },
      `${a.spec} (${a.branch}@${a.txid}) → ${b.spec} (${b.branch}@${b.txid}): `,
      h("span", { class: "sign added" }, `+${d.added.length}`), " ",
      h("span", { class: "sign removed" }, `−${d.removed.length}`), " ",
      h("span", { class: "sign changed" }, `~${d.changed.length}`)),
    table(columns, rows, (r) => ({ class: `diff-row ${r.cls}` })));
}
