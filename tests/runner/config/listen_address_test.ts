import assert from "node:assert/strict";
import { isIP } from "node:net";
import { ConfigTable } from "../../../contract/config_table.ts";
import { ConfigError } from "../../../mod.ts";
import { parseListenAddress } from "../../../runner/config/listen_address.ts";

function parse(listen: string) {
  const read = new ConfigTable({ listen }, "c.toml", "http", [
    "listen",
  ], new Map());
  return parseListenAddress(read, "http", "127.0.0.1:9090");
}

Deno.test("listen: host and port, brackets taken off an IPv6 address", () => {
  assert.deepEqual(parse("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(parse("[::1]:53"), { hostname: "::1", port: 53 });
  assert.deepEqual(parse("[fe80::1:2]:8600"), {
    hostname: "fe80::1:2",
    port: 8600,
  });
  assert.deepEqual(parse("localhost:80"), { hostname: "localhost", port: 80 });
  assert.deepEqual(parse("my-host.internal:65535"), {
    hostname: "my-host.internal",
    port: 65535,
  });
});

Deno.test("listen: an address that is no IP address is refused as node:net would refuse it", () => {
  const ipv4 = [
    "127.0.0.1",
    "255.255.255.255",
    "0.0.0.0",
    "256.0.0.1",
    "127.999.0.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "1..2.3",
  ];
  const ipv6 = [
    "::",
    "::1",
    "1:2:3:4:5:6:7:8",
    "1::8",
    "fe80::",
    ":::1",
    "1:2:3",
    "1:2:3:4:5:6:7:8:9",
    "12345::1",
    "1::2::3",
  ];
  const cases = [
    ...ipv4.map((address) => ({
      version: 4,
      address,
      listen: `${address}:80`,
    })),
    ...ipv6.map((address) => ({
      version: 6,
      address,
      listen: `[${address}]:80`,
    })),
  ];
  for (const { version, address, listen } of cases) {
    if (isIP(address) === version) {
      assert.equal(parse(listen).hostname, address, listen);
      continue;
    }
    assert.throws(
      () => parse(listen),
      (e) =>
        e instanceof ConfigError &&
        e.message.includes(`not a valid IPv${version} address`),
      listen,
    );
  }
});

Deno.test("listen: a value that is not host:port names the key and an example", () => {
  assert.throws(
    () => parse("localhost"),
    /Invalid 'http\.listen': 'localhost' must be host:port, such as "127\.0\.0\.1:9090"/,
  );
  assert.throws(() => parse("127.0.0.1:70000"), /must be host:port/);
});
