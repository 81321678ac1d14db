import assert from "node:assert/strict";
import { ConfigError } from "../../../errors.ts";
import { parseDnsConfig } from "../../../runner/config/dns_config.ts";

Deno.test("dns config: defaults, a domain lower-cased without its final dot, and a ttl of whole seconds", () => {
  assert.deepEqual(parseDnsConfig({}, "c.toml"), {
    hostname: "127.0.0.1",
    port: 8600,
    domain: "roster",
    ttlSeconds: 2,
  });
  const dns = parseDnsConfig(
    { listen: "[::1]:0", domain: "Svc.Example.Internal.", ttl: "0s" },
    "c.toml",
  );
  assert.deepEqual(dns, {
    hostname: "::1",
    port: 0,
    domain: "svc.example.internal",
    ttlSeconds: 0,
  });
});

Deno.test("dns config: a bad domain, a ttl over a minute or not whole seconds, and a bad address are refused by key", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ domain: "bad_name" }, /'dns\.domain': 'bad_name' must be DNS labels/],
    [{ domain: "a..b" }, /'dns\.domain'/],
    [{ ttl: "61s" }, /'dns\.ttl': 61000ms must be whole seconds from 0 to 60s/],
    [{ ttl: "1500ms" }, /'dns\.ttl': 1500ms/],
    [{ listen: "localhost" }, /'dns\.listen': 'localhost' must be host:port/],
  ];
  for (const [table, message] of cases) {
    assert.throws(
      () => parseDnsConfig(table, "c.toml"),
      (error: unknown) =>
        error instanceof ConfigError && message.test(error.message),
    );
  }
});
