/**
 * The dashboard page: instances grouped by service, updated live over
 * server-sent events, with no front-end framework.
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
  :root { color-scheme: light dark; --muted: #777; --ok: #1a7f37; --bad: #cf222e; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  #state { color: var(--muted); margin-bottom: 1.5rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #8884; vertical-align: top; }
  th { font-weight: 600; color: var(--muted); }
  .healthy { color: var(--ok); } .unhealthy { color: var(--bad); }
  .leader { font-size: .75rem; border: 1px solid currentColor; border-radius: 4px; padding: 0 .3rem; margin-left: .4rem; }
  code { font-size: 12px; }
  #empty { color: var(--muted); }
  .scroll { overflow-x: auto; }
  #banner { border: 1px solid var(--bad); color: var(--bad); border-radius: 6px; padding: .5rem .75rem; margin-bottom: 1rem; }
  tr.last-known td { opacity: .6; }
  @media (max-width: 600px) { body { margin: 1rem .5rem; } th, td { padding: .3rem .4rem; } }
</style>
</head>
<body>
<h1>roster</h1>
<div id="banner" role="alert" hidden></div>
<div id="state">connecting…</div>
<div id="services"></div>
<script>
  const token = new URLSearchParams(location.search).get("token");
  const ago = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? \`\${s}s\` : s < 3600 ? \`\${Math.floor(s / 60)}m\${s % 60}s\` : \`\${Math.floor(s / 3600)}h\${Math.floor(s % 3600 / 60)}m\`;
  };
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  function render(snapshot) {
    const stale = snapshot.view === "stale";
    const banner = document.getElementById("banner");
    banner.hidden = !stale;
    banner.textContent = stale
      ? \`The registry cannot be reached: showing what was last known, stale since \${new Date(snapshot.staleSince).toLocaleTimeString()} (\${ago(snapshot.now - snapshot.staleSince)}). Last error: \${snapshot.error}\`
      : "";
    document.getElementById("state").textContent =
      \`env \${snapshot.env} · \${snapshot.instances.length} instances · view \${snapshot.view} · read \${snapshot.readAt ? new Date(snapshot.readAt).toLocaleTimeString() : "never"}\`;
    const root = document.getElementById("services");
    root.replaceChildren();
    const services = [...new Set(snapshot.instances.map((i) => i.service))].sort();
    if (services.length === 0) {
      const p = document.createElement("p");
      p.id = "empty";
      p.textContent = "No live instances.";
      root.append(p);
    }
    for (const service of services) {
      const h2 = document.createElement("h2");
      h2.textContent = service;
      const table = document.createElement("table");
      table.dataset.service = service;
      const head = table.insertRow();
      for (const name of ["id", "status", "age", "last heartbeat", "version", "addr", "meta"]) {
        const th = document.createElement("th");
        th.textContent = name;
        head.append(th);
      }
      for (const i of snapshot.instances.filter((i) => i.service === service)) {
        const row = table.insertRow();
        row.dataset.id = i.id;
        if (stale) row.className = "last-known";
        const id = cell(i.id);
        if (snapshot.leaders[service] === i.id) {
          const badge = document.createElement("span");
          badge.className = "leader";
          badge.textContent = "leader";
          id.append(badge);
        }
        row.append(
          id,
          cell(stale ? \`\${i.status} (last known)\` : i.status, i.status),
          cell(ago(snapshot.now - i.registeredAt)),
          cell(\`\${ago(snapshot.now - i.heartbeatAt)} ago\`),
          cell(i.version || "-"),
          cell(i.addr || "-"),
          cell(Object.entries(i.meta).map(([k, v]) => \`\${k}=\${v}\`).join(" ") || "-"),
        );
      }
      const scroll = document.createElement("div");
      scroll.className = "scroll";
      scroll.append(table);
      root.append(h2, scroll);
    }
  }
  const source = new EventSource(\`events\${token ? \`?token=\${encodeURIComponent(token)}\` : ""}\`);
  source.onmessage = (event) => render(JSON.parse(event.data));
  source.onerror = () => document.getElementById("state").textContent = "reconnecting…";
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
