// The npm package as a user gets it: packed by `npm pack`, installed into a
// new project outside the clone (so nothing resolves from the clone's own
// node_modules), as `npm init -y` leaves one (CommonJS by default). Node's
// test runner runs this file; Bun's, which runs the *.test.js files, does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const DIST = fileURLToPath(new URL("../../../dist/npm", import.meta.url));

function run(command, args, cwd, env = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Whether this Node loads ES modules with require() (20.19+, 22.12+). */
function requiresEsm() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  return major >= 23 || (major === 22 && minor >= 12) ||
    (major === 20 && minor >= 19);
}

test("npm pack, installed into a new project elsewhere: import, require, the bin; pg and etcd3 only when chosen", () => {
  const dir = mkdtempSync(join(tmpdir(), "roster-pack-"));
  try {
    const packed = run(
      "npm",
      ["pack", DIST, "--pack-destination", dir, "--silent"],
      dir,
    );
    assert.equal(packed.code, 0, packed.stderr);
    const tarball = join(dir, packed.stdout.trim().split("\n").pop());
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "app", version: "1.0.0", private: true }),
    );
    const installed = run(
      "npm",
      ["install", "--no-audit", "--no-fund", tarball],
      dir,
    );
    assert.equal(installed.code, 0, installed.stderr);
    const has = (name) => existsSync(join(dir, "node_modules", name));
    for (
      const name of ["ioredis", "smol-toml", "dns-packet", "@logtape/logtape"]
    ) {
      assert.ok(has(name), `${name} is installed`);
    }
    for (const name of ["pg", "etcd3", "@grpc/grpc-js", "protobufjs"]) {
      assert.ok(!has(name), `${name} is not installed until chosen`);
    }

    // ES modules: the README's way.
    writeFileSync(
      join(dir, "app.mjs"),
      `import { Registry } from "@roster/roster";
const registry = new Registry({ service: "api", id: "api-1" });
await registry.start();
console.log(JSON.stringify((await registry.instances("api")).map((i) => i.id)));
await registry.stop();
`,
    );
    const app = run(process.execPath, ["app.mjs"], dir);
    assert.equal(app.code, 0, app.stderr);
    assert.equal(app.stdout.trim(), '["api-1"]');

    // require() from CommonJS: where Node loads ES modules so.
    const required = run(process.execPath, [
      "-e",
      "const { Registry } = require('@roster/roster'); console.log(typeof Registry)",
    ], dir);
    if (requiresEsm()) {
      assert.equal(required.code, 0, required.stderr);
      assert.equal(required.stdout.trim(), "function");
    } else {
      assert.match(required.stderr, /ERR_REQUIRE_ESM/);
    }

    // The bin.
    const bin = join(dir, "node_modules", ".bin", "roster");
    const help = run(bin, ["--help"], dir);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^ {2}list +list live instances/m);

    // A driver whose client library is not installed says which and how.
    for (
      const [driver, pkg, env] of [
        ["postgres", "pg", { ROSTER_POSTGRES_URL: "postgres://127.0.0.1:9/x" }],
        ["etcd", "etcd3", {}],
      ]
    ) {
      const missing = run(bin, ["list", "--driver", driver], dir, env);
      assert.notEqual(missing.code, 0);
      assert.match(
        missing.stderr,
        new RegExp(
          `Cannot use the '${driver}' driver: its client library, the npm package '${pkg}', is not installed; install it beside roster with 'npm install ${pkg}'`,
        ),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
