/**
 * The status server without a token answers only requests addressed to it:
 * a DNS-rebinding page (`Host: evil.example`) gets nothing, and a malformed
 * `Host` gets a 400, not a 500 with a trace.
 */

import assert from "node:assert/strict";
import { Registry } from "../../../mod.ts";
import { MemoryDriver } from "../../../testing/mod.ts";
import { RunnerMetrics } from "../../../runner/http/metrics.ts";
import { startStatusServer } from "../../../runner/http/status_server.ts";

/** Sends one raw request, so the Host header is exactly what we say. */
async function rawGet(port: number, path: string, host: string) {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    connection.close();
  }
}

Deno.test("without a token, only requests addressed to the server are answered", async () => {
  await using registry = new Registry({
    driver: new MemoryDriver(),
    service: "api",
    id: "api-1",
  });
  await registry.start();
  await using server = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: undefined },
    registry,
    new RunnerMetrics(),
  );
  const port = server.port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost"]) {
    const answer = await rawGet(port, "/instances", host);
    assert.equal(answer.status, 200, host);
    assert.match(answer.body, /api-1/);
  }
  for (
    const host of [
      "evil.example",
      `evil.example:${port}`,
      "127.0.0.1.evil.example",
    ]
  ) {
    const answer = await rawGet(port, "/instances", host);
    assert.equal(answer.status, 421, host);
    assert.doesNotMatch(answer.body, /api-1/);
    assert.match(answer.body, /set 'http.token'/);
  }
  const malformed = await rawGet(port, "/instances?token=secret-in-url", "[");
  assert.ok(
    malformed.status === 400 || malformed.status === 421,
    `status ${malformed.status}`,
  );
  assert.doesNotMatch(malformed.body, /secret-in-url/);
});

Deno.test("with a token, any Host is let through to the token check", async () => {
  await using registry = new Registry({ driver: new MemoryDriver() });
  await using server = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: "a-long-random-token-1234" },
    registry,
    new RunnerMetrics(),
  );
  const answer = await rawGet(server.port, "/instances", "roster.example");
  assert.equal(answer.status, 401);
  const malformed = await rawGet(server.port, "/?token=secret-in-url", "[");
  assert.equal(malformed.status, 400);
  assert.doesNotMatch(malformed.body, /secret-in-url/);
});

Deno.test("HEAD is answered without a body, every page carries a strict CSP, and there is an icon", async () => {
  await using registry = new Registry({ driver: new MemoryDriver() });
  await using server = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: undefined },
    registry,
    new RunnerMetrics(),
  );
  const base = `http://127.0.0.1:${server.port}`;
  for (const path of ["/", "/instances", "/metrics", "/healthz", "/events"]) {
    const head = await fetch(`${base}${path}`, { method: "HEAD" });
    assert.equal(head.status, 200, path);
    assert.equal(await head.text(), "", path);
    const csp = head.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]{44}'/, path);
  }
  const icon = await fetch(`${base}/favicon.ico`);
  assert.equal(icon.headers.get("content-type"), "image/svg+xml");
  assert.match(await icon.text(), /^<svg/);
  const post = await fetch(`${base}/instances`, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
});

Deno.test("a request with two Host headers is refused, even when the first names the server", async () => {
  await using registry = new Registry({ driver: new MemoryDriver() });
  await using server = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: undefined },
    registry,
    new RunnerMetrics(),
  );
  const connection = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  let text = "";
  try {
    await connection.write(
      new TextEncoder().encode(
        "GET /instances HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
      ),
    );
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } finally {
    connection.close();
  }
  assert.match(text, /^HTTP\/1\.1 400 /);
});

Deno.test("with a token, the icon and the health check need none; everything else does", async () => {
  await using registry = new Registry({ driver: new MemoryDriver() });
  await using server = await startStatusServer(
    { hostname: "127.0.0.1", port: 0, token: "a-long-enough-token-1234" },
    registry,
    new RunnerMetrics(),
  );
  const base = `http://127.0.0.1:${server.port}`;
  for (const path of ["/favicon.svg", "/favicon.ico", "/healthz"]) {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, path);
    await response.body?.cancel();
  }
  for (const path of ["/instances", "/sd", "/metrics", "/events"]) {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 401, path);
    await response.body?.cancel();
  }
});
