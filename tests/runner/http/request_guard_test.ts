import assert from "node:assert/strict";
import {
  authorized,
  namesThisServer,
} from "../../../runner/http/_request_guard.ts";

const TOKEN = "a-long-random-secret-1234";

function request(path: string, headers: Record<string, string> = {}) {
  const url = new URL(path, "http://127.0.0.1:9090");
  return { request: new Request(url, { headers }), url };
}

Deno.test("namesThisServer: the bound address and loopback names pass; another name (DNS rebinding) does not", () => {
  assert.ok(namesThisServer("127.0.0.1:9090", "127.0.0.1"));
  assert.ok(namesThisServer("localhost:9090", "127.0.0.1"));
  assert.ok(namesThisServer("[::1]:9090", "::1"));
  assert.ok(namesThisServer("127.0.0.2", "0.0.0.0"));
  assert.ok(namesThisServer("10.0.0.7:9090", "10.0.0.7"));
  assert.ok(!namesThisServer("evil.example:9090", "127.0.0.1"));
  assert.ok(!namesThisServer("127.0.0.1.evil.example", "127.0.0.1"));
  assert.ok(!namesThisServer(null, "127.0.0.1"));
});

Deno.test("authorized: no token lets all in; with one, the header opens everything and ?token= only the page", async () => {
  const open = { hostname: "127.0.0.1", port: 0, token: undefined };
  const closed = { ...open, token: TOKEN };
  const bare = request("/instances");
  assert.ok(await authorized(open, bare.request, bare.url));
  assert.ok(!(await authorized(closed, bare.request, bare.url)));
  const bearer = request("/instances", { authorization: `Bearer ${TOKEN}` });
  assert.ok(await authorized(closed, bearer.request, bearer.url));
  const wrong = request("/instances", { authorization: `Bearer ${TOKEN}x` });
  assert.ok(!(await authorized(closed, wrong.request, wrong.url)));
  const page = request(`/?token=${TOKEN}`);
  assert.ok(await authorized(closed, page.request, page.url));
  const api = request(`/instances?token=${TOKEN}`);
  assert.ok(!(await authorized(closed, api.request, api.url)));
  const empty = request("/", { authorization: "Bearer " });
  assert.ok(!(await authorized(closed, empty.request, empty.url)));
});
