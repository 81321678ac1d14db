/**
 * The dashboard page: instances grouped by service with their counts, a
 * filter, sortable columns, an instance's detail, and the latest events,
 * updated live over server-sent events, with no front-end framework.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The page `GET /` serves. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>roster</title>
<link rel="icon" href="favicon.svg" type="image/svg+xml">
<style>
  :root { color-scheme: light dark; --muted: #777; --ok: #1a7f37; --bad: #cf222e; --late: #9a6700; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 100%; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  #state { color: var(--muted); margin-bottom: 1rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #8884; vertical-align: top; overflow-wrap: anywhere; }
  th { font-weight: 600; color: var(--muted); cursor: pointer; user-select: none; }
  th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
  tr[data-id] { cursor: pointer; } tr[data-id]:hover td { background: #8881; }
  .healthy { color: var(--ok); } .unhealthy { color: var(--bad); } .warning, .draining, .maintenance { color: var(--late); } .late, .held { color: var(--late); font-weight: 600; }
  .leader { font-size: .75rem; border: 1px solid currentColor; border-radius: 4px; padding: 0 .3rem; margin-left: .4rem; }
  #counts { display: flex; flex-wrap: wrap; gap: .4rem; margin: 0 0 1rem; padding: 0; list-style: none; }
  #counts li { border: 1px solid #8886; border-radius: 4px; padding: .1rem .5rem; }
  #counts li.empty { color: var(--bad); border-color: var(--bad); }
  #filter { width: 100%; max-width: 32rem; padding: .35rem .5rem; font: inherit; }
  #empty { color: var(--muted); }
  .scroll { overflow-x: auto; max-width: 100%; }
  #banner { border: 1px solid var(--bad); color: var(--bad); border-radius: 6px; padding: .5rem .75rem; margin-bottom: 1rem; overflow-wrap: anywhere; }
  tr.last-known td { opacity: .6; }
  #detail { border: 1px solid #8886; border-radius: 6px; padding: .5rem .75rem; margin: 1rem 0; }
  #detail dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: 0; }
  #detail dt { color: var(--muted); } #detail dd { margin: 0; overflow-wrap: anywhere; }
  #log { list-style: none; padding: 0; margin: 0; max-height: 20rem; overflow-y: auto; font-size: 13px; }
  #log li { padding: .15rem 0; border-bottom: 1px solid #8882; overflow-wrap: anywhere; }
  #log time { color: var(--muted); margin-right: .5rem; }
  #charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: .5rem 1rem; margin: 0 0 1rem; }
  #charts figure { margin: 0; } #charts figcaption { color: var(--muted); font-size: 12px; }
  .chart { display: block; width: 100%; height: 56px; border-bottom: 1px solid #8886; }
  .chart .count { fill: none; stroke: var(--ok); stroke-width: 1.5; }
  .chart .latency { fill: none; stroke: currentColor; stroke-width: 1; }
  .chart .join { stroke: var(--ok); stroke-width: 1; } .chart .leave { stroke: var(--bad); stroke-width: 1; }
  .chart .protected { fill: var(--late); opacity: .25; }
  @media (max-width: 600px) {
    body { margin: 1rem .5rem; } th, td { padding: .3rem .4rem; }
    .wide { display: none; }
  }
</style>
</head>
<body>
<h1>roster</h1>
<div id="banner" role="alert" hidden></div>
<div id="state">connecting…</div>
<ul id="counts" aria-label="services"></ul>
<section id="charts" aria-label="the last hour" hidden></section>
<input id="filter" type="search" placeholder="filter: api, status:late, zone=eu, version:2" aria-label="filter instances">
<section id="detail" hidden></section>
<div id="services"></div>
<h2>Events</h2>
<ol id="log" reversed></ol>
<script>
  const params = new URLSearchParams(location.search);
  // The token opened the page; keep it out of the address bar and history,
  // and for this tab only, so a reload still reads.
  let token = params.get("token") ?? sessionStorage.getItem("roster-token");
  if (params.has("token")) {
    sessionStorage.setItem("roster-token", token);
    history.replaceState(null, "", location.pathname);
  }
  const $ = (id) => document.getElementById(id);
  // What a terminal or a browser would obey rather than show (controls,
  // bidirectional overrides) is shown as an escape, as the CLI does.
  const UNSAFE = /[\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]/g;
  const safe = (text) => String(text).replace(UNSAFE, (c) =>
    "\\\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  const ago = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? \`\${s}s\` : s < 3600 ? \`\${Math.floor(s / 60)}m\${s % 60}s\` : \`\${Math.floor(s / 3600)}h\${Math.floor(s % 3600 / 60)}m\`;
  };
  const time = (at) => new Date(at).toLocaleTimeString();
  const el = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = safe(text);
    if (cls) node.className = cls;
    return node;
  };
  const statusOf = (i) => i.held ? "held" : i.late ? "late" : i.status;
  const COLUMNS = [
    ["id", (i) => i.id],
    ["status", statusOf],
    ["age", (i) => -i.registeredAt, "wide"],
    ["last heartbeat", (i) => -i.heartbeatAt],
    ["version", (i) => i.version],
    ["addr", (i) => i.addr, "wide"],
    ["meta", (i) => Object.entries(i.meta).map(([k, v]) => \`\${k}=\${v}\`).join(" "), "wide"],
  ];
  let last;
  let sort = { column: 0, direction: 1 };
  let selected;
  const events = [];
  let seen = 0;

  // Words narrow the list: "key=value" matches meta, "field:value" a field
  // (service, id, status, version, addr), anything else any of them.
  function matches(i, query) {
    return query.split(/\\s+/).filter(Boolean).every((word) => {
      const lower = word.toLowerCase();
      const eq = lower.indexOf("=");
      if (eq > 0) {
        const value = Object.entries(i.meta).find(([k]) => k.toLowerCase() === lower.slice(0, eq))?.[1];
        return value !== undefined && value.toLowerCase().includes(lower.slice(eq + 1));
      }
      const colon = lower.indexOf(":");
      const fields = { service: i.service, id: i.id, status: statusOf(i), version: i.version, addr: i.addr };
      if (colon > 0 && lower.slice(0, colon) in fields) {
        return String(fields[lower.slice(0, colon)]).toLowerCase().includes(lower.slice(colon + 1));
      }
      return Object.values(fields).some((v) => String(v).toLowerCase().includes(lower));
    });
  }

  function renderDetail(snapshot) {
    const box = $("detail");
    const i = selected && snapshot.instances.find((x) => x.id === selected);
    box.hidden = !i;
    box.replaceChildren();
    if (!i) return;
    const close = el("button", "close");
    close.type = "button";
    close.onclick = () => { selected = undefined; renderDetail(snapshot); };
    box.append(el("h2", \`\${i.service} / \${i.id}\`), close);
    const rows = [
      ["status", i.late ? \`late: no beat for \${ago(snapshot.now - i.heartbeatAt)} (beats every \${ago(i.heartbeatInterval)})\` : i.status],
      ["host", i.hostname || "-"], ["pid", String(i.pid)], ["seq", String(i.seq)],
      ["registered", new Date(i.registeredAt).toISOString()],
      ["last heartbeat", \`\${new Date(i.heartbeatAt).toISOString()} (\${ago(snapshot.now - i.heartbeatAt)} ago)\`],
      ["heartbeat interval", i.heartbeatInterval ? ago(i.heartbeatInterval) : "unknown"],
      ["expires", new Date(i.expiresAt).toISOString()],
      ["version", i.version || "-"], ["addr", i.addr || "-"],
      ["meta", Object.entries(i.meta).map(([k, v]) => \`\${k}=\${v}\`).join(" ") || "-"],
    ];
    const self = snapshot.self;
    if (self && self.id === i.id) {
      if (self.heartbeatLatency !== undefined) rows.push(["heartbeat latency", \`\${self.heartbeatLatency.toFixed(1)} ms\`]);
      if (self.check) {
        rows.push(["health check", \`\${self.check.warning ? "warned" : self.check.ok ? "passed" : "failed"} at \${time(self.check.at)} in \${Math.round(self.check.duration)} ms\`]);
        if (self.check.error) rows.push([self.check.warning ? "why warning" : "why unhealthy", self.check.error]);
        if (self.check.output) rows.push(["check output", self.check.output]);
      }
    } else rows.push(["latency, health check", "known only to the runner of this instance"]);
    const dl = el("dl");
    for (const [k, v] of rows) dl.append(el("dt", k), el("dd", v));
    box.append(dl);
  }

  function render(snapshot) {
    last = snapshot;
    for (const event of snapshot.events) {
      if (event.n > seen) { events.push(event); seen = event.n; }
    }
    events.splice(0, Math.max(0, events.length - 200));
    const stale = snapshot.view === "stale";
    renderBanner(snapshot, stale);
    $("state").textContent =
      \`env \${snapshot.env} · \${snapshot.instances.length} instances · view \${snapshot.view} · read \${snapshot.readAt ? time(snapshot.readAt) : "never"}\`;
    renderCounts(snapshot);
    renderServices(snapshot, stale);
    renderDetail(snapshot);
    renderLog();
  }

  function renderBanner(snapshot, stale) {
    const guarded = Object.entries(snapshot.protection ?? {});
    const banner = $("banner");
    banner.hidden = !stale && guarded.length === 0;
    banner.textContent = [
      stale ? \`The registry cannot be reached: showing what was last known, stale since \${time(snapshot.staleSince)} (\${ago(snapshot.now - snapshot.staleSince)}). Last error: \${snapshot.error}\` : "",
      ...guarded.map(([service, p]) => \`Eviction protection for \${service}: more than half of it expired within one ttl, so its expired instances (marked held) stay listed until they beat again or \${time(p.until)}, since \${time(p.since)}.\`),
    ].filter(Boolean).join(" ");
  }

  function renderCounts(snapshot) {
    const counts = $("counts");
    counts.replaceChildren();
    for (const [service, count] of Object.entries(snapshot.services)) {
      const li = el("li", \`\${service} \${count.healthy}/\${count.live}\`, count.live === 0 ? "empty" : "");
      li.dataset.service = service;
      counts.append(li);
    }
  }

  function renderServices(snapshot, stale) {
    const query = $("filter").value;
    const shown = snapshot.instances.filter((i) => matches(i, query));
    const root = $("services");
    root.replaceChildren();
    const services = [...new Set(shown.map((i) => i.service))].sort();
    if (services.length === 0) {
      root.append(el("p", snapshot.instances.length ? "No instance matches the filter." : "No live instances.", ""));
      root.firstChild.id = "empty";
    }
    for (const service of services) {
      const table = serviceTable(snapshot, service, shown.filter((i) => i.service === service), stale);
      const scroll = el("div", undefined, "scroll");
      scroll.append(table);
      root.append(el("h2", service), scroll);
    }
  }

  function serviceTable(snapshot, service, rows, stale) {
    const [, key] = COLUMNS[sort.column];
    const table = el("table");
    table.dataset.service = service;
    const head = table.insertRow();
    COLUMNS.forEach(([name, , cls], column) => {
      const th = el("th", name, cls);
      if (column === sort.column) th.setAttribute("aria-sort", sort.direction > 0 ? "ascending" : "descending");
      th.onclick = () => {
        sort = { column, direction: sort.column === column ? -sort.direction : 1 };
        render(last);
      };
      head.append(th);
    });
    if (sort.column !== 0 || sort.direction !== 1) {
      rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * sort.direction);
    }
    for (const i of rows) {
      const row = table.insertRow();
      row.dataset.id = i.id;
      row.dataset.status = statusOf(i);
      if (stale) row.className = "last-known";
      row.onclick = () => { selected = i.id; renderDetail(last); };
      const id = el("td", i.id);
      if (snapshot.leaders[service] === i.id) id.append(el("span", "leader", "leader"));
      row.append(
        id,
        el("td", statusOf(i) + (stale ? " (last known)" : ""), statusOf(i)),
        el("td", ago(snapshot.now - i.registeredAt), "wide"),
        el("td", \`\${ago(snapshot.now - i.heartbeatAt)} ago\`),
        el("td", i.version || "-"),
        el("td", i.addr || "-", "wide"),
        el("td", COLUMNS[6][1](i) || "-", "wide"),
      );
    }
    return table;
  }

  function renderLog() {
    const log = $("log");
    log.replaceChildren(...events.slice().reverse().map((e) => {
      const li = el("li");
      li.dataset.type = e.type;
      const what = e.type === "leader"
        ? (e.id ? \`\${e.service}: \${e.id} leads\${e.reason ? \` (was \${e.reason})\` : ""}\` : \`\${e.service}: no leader (was \${e.reason})\`)
        : \`\${e.type} \${e.service}/\${e.id} (\${e.reason})\`;
      li.append(el("time", time(e.at)), document.createTextNode(what));
      return li;
    }));
  }
  $("filter").oninput = () => last && render(last);

  // The stream is read with fetch, which (unlike EventSource) can send the
  // token as a header, never in a URL.
  async function follow() {
    for (let delay = 1000;; delay = Math.min(delay * 2, 5000)) {
      try {
        const response = await fetch("events", {
          headers: token ? { authorization: \`Bearer \${token}\` } : {},
          cache: "no-store",
        });
        if (response.status === 401) {
          askForToken();
          return;
        }
        if (!response.ok) {
          // Say why (too many open streams, an outage), not just "reconnecting".
          const reason = await response.json().then((body) => body.error, () => "");
          throw new Error(\`HTTP \${response.status}\${reason ? ": " + reason : ""}\`);
        }
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const opened = Date.now();
        let buffer = "";
        let got = false;
        for (;;) {
          const { value, done } = await reader.read();
          // The server ends each stream after a while: open the next at
          // once (after a short one, or one that brought nothing, wait as
          // after an error).
          if (done) { if (got && Date.now() - opened > 5000) delay = 0; break; }
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\\n\\n")) >= 0) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (message.startsWith("data: ")) { render(JSON.parse(message.slice(6))); delay = 1000; got = true; }
          }
        }
      } catch (error) {
        $("state").textContent = \`reconnecting… (\${error.message})\`;
      }
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      delay ||= 1000;
    }
  }
  // Opened without the token (a bookmark, a new tab): ask for it here
  // rather than show a bare 401.
  function askForToken() {
    sessionStorage.removeItem("roster-token");
    $("state").textContent = "This dashboard needs its token (http.token):";
    const input = el("input");
    input.type = "password";
    input.id = "token";
    input.setAttribute("aria-label", "token");
    const button = el("button", "open");
    button.onclick = () => {
      token = input.value;
      sessionStorage.setItem("roster-token", token);
      input.remove();
      button.remove();
      follow();
    };
    $("state").append(" ", input, " ", button);
  }
  // The last hour, drawn as inline SVG: per service its live count (a step
  // line) with joins (green ticks), leaves (red ticks) and eviction
  // protection (shaded); this process's heartbeat latency.
  const SVG = "http://www.w3.org/2000/svg";
  const W = 600, H = 56;
  const svg = (tag, attrs, cls) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (cls) node.setAttribute("class", cls);
    return node;
  };
  function chart(label, caption, from, now, draw) {
    const figure = el("figure");
    const box = svg("svg", { viewBox: \`0 0 \${W} \${H}\`, preserveAspectRatio: "none", role: "img", "aria-label": label }, "chart");
    box.dataset.chart = label;
    const x = (at) => ((at - from) / (now - from)) * W;
    draw(box, x);
    figure.append(box, el("figcaption", caption));
    return figure;
  }
  function serviceChart(name, h, from, now) {
    const counts = h.counts.length ? h.counts : [[from, 0]];
    const top = Math.max(1, ...counts.map(([, n]) => n));
    const y = (n) => H - 4 - (n / top) * (H - 12);
    const current = counts[counts.length - 1][1];
    return chart(\`\${name}: live instances, last hour\`, \`\${safe(name)}: \${current} live now, at most \${top}; \${h.joins.length} joins, \${h.leaves.length} leaves\`, from, now, (box, x) => {
      for (const [a, b] of h.protection) {
        box.append(svg("rect", { x: x(Math.max(a, from)), y: 0, width: Math.max(1, x(b ?? now) - x(Math.max(a, from))), height: H }, "protected"));
      }
      let points = \`\${x(Math.max(counts[0][0], from))},\${y(counts[0][1])}\`;
      for (let i = 1; i < counts.length; i++) {
        const px = x(Math.max(counts[i][0], from));
        points += \` \${px},\${y(counts[i - 1][1])} \${px},\${y(counts[i][1])}\`;
      }
      points += \` \${W},\${y(current)}\`;
      box.append(svg("polyline", { points, "vector-effect": "non-scaling-stroke" }, "count"));
      for (const at of h.joins) box.append(svg("line", { x1: x(at), x2: x(at), y1: H - 4, y2: H, "vector-effect": "non-scaling-stroke" }, "join"));
      for (const at of h.leaves) box.append(svg("line", { x1: x(at), x2: x(at), y1: 0, y2: 4, "vector-effect": "non-scaling-stroke" }, "leave"));
    });
  }
  function latencyChart(latency, from, now) {
    const top = Math.max(1, ...latency.map(([, ms]) => ms));
    const sorted = latency.map(([, ms]) => ms).sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    return chart("heartbeat latency of this process, last hour", \`this process's heartbeats: \${latency.length}, median \${median.toFixed(1)} ms, most \${top.toFixed(1)} ms\`, from, now, (box, x) => {
      const points = latency.map(([at, ms]) => \`\${x(at)},\${H - 2 - (ms / top) * (H - 6)}\`).join(" ");
      box.append(svg("polyline", { points, "vector-effect": "non-scaling-stroke" }, "latency"));
    });
  }
  // Not named "history": that would hide window.history, which the token
  // handling above uses.
  async function drawHistory() {
    try {
      const response = await fetch("history", { headers: token ? { authorization: \`Bearer \${token}\` } : {}, cache: "no-store" });
      if (!response.ok) return;
      const h = await response.json();
      const figures = Object.entries(h.services).map(([name, s]) => serviceChart(name, s, h.from, h.now));
      if (h.latency.length) figures.push(latencyChart(h.latency, h.from, h.now));
      $("charts").replaceChildren(...figures);
      $("charts").hidden = figures.length === 0;
    } catch { /* drawn again at the next try */ }
  }
  drawHistory();
  setInterval(drawHistory, 15000);
  follow();
</script>
</body>
</html>
`;

/** The icon the page links to: a green dot, as SVG. */
export const FAVICON_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="#1a7f37"/></svg>`;

function inlineHash(tag: string): string {
  const match = DASHBOARD_HTML.match(
    new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`),
  );
  const text = match?.[1] ?? "";
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

/**
 * The Content-Security-Policy every page is sent with: nothing runs or loads
 * but the page's own inline script and style (by hash), its event stream and
 * its icon, so an instance field that slipped past escaping still could not
 * execute.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${inlineHash("script")}`,
  `style-src ${inlineHash("style")}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
