import assert from "node:assert/strict";
import { parseInstanceAddress } from "../../runner/instance_address.ts";

Deno.test("an addr is a URL or a bare host:port; the port defaults to its scheme's", () => {
  assert.deepEqual(parseInstanceAddress("http://10.0.0.7:8080/health"), {
    host: "10.0.0.7",
    port: 8080,
  });
  assert.deepEqual(parseInstanceAddress("https://api.internal"), {
    host: "api.internal",
    port: 443,
  });
  assert.deepEqual(parseInstanceAddress("http://api.internal"), {
    host: "api.internal",
    port: 80,
  });
  assert.deepEqual(parseInstanceAddress("[::1]:9000"), {
    host: "::1",
    port: 9000,
  });
  assert.deepEqual(parseInstanceAddress("grpc://10.0.0.9:50051"), {
    host: "10.0.0.9",
    port: 50051,
  });
});

Deno.test("an addr that names no host gives nothing", () => {
  for (
    const addr of ["", "http://", "not a url at all:x", "unix:///run/api.sock"]
  ) {
    assert.equal(parseInstanceAddress(addr), undefined, addr);
  }
});
