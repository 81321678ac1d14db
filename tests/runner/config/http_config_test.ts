import assert from "node:assert/strict";
import { ConfigError } from "../../../errors.ts";
import {
  isLoopback,
  parseHttpConfig,
} from "../../../runner/config/http_config.ts";

const TOKEN = "a-long-random-secret-1234";

Deno.test("http config: loopback by default, a port of 0 allowed, and the token read", () => {
  assert.deepEqual(parseHttpConfig({}, "c.toml"), {
    hostname: "127.0.0.1",
    port: 9090,
    token: undefined,
    maxStreams: 100,
  });
  const open = parseHttpConfig({ listen: "0.0.0.0:0", token: TOKEN }, "c.toml");
  assert.equal(open.port, 0);
  assert.equal(open.token, TOKEN);
  assert.ok(isLoopback("127.1.2.3") && isLoopback("::1"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("10.0.0.1"));
});

Deno.test("http config: each bad value is refused with the key, the value and the fix; a token never appears", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ listen: "0.0.0.0:9090" }, /without a token; set 'http\.token'/],
    [{ token: "short" }, /shorter than 16 characters/],
    [{ token: ` ${TOKEN}` }, /starts or ends with whitespace/],
    [{ listen: "127.0.0.1:70000" }, /'127\.0\.0\.1:70000' must be host:port/],
    [{ listen: "127.999.0.1:80" }, /not a valid IPv4 address/],
    [{ max_streams: 20_000 }, /more than 10000/],
    [{ lisen: "127.0.0.1:1" }, /lisen/],
  ];
  for (const [table, message] of cases) {
    assert.throws(() => parseHttpConfig(table, "c.toml"), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, message);
      assert.ok(!error.message.includes(TOKEN.slice(1)));
      return true;
    });
  }
});
