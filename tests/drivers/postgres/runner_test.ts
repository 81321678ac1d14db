/** The runner with `driver = "postgres"`, against a real server. */

import assert from "node:assert/strict";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";
import { PostgresServer, postgresTest } from "../../_postgres_server.ts";

Deno.test(postgresTest(
  "runner on postgres: run, list from another process, status, stop; secrets stay out of errors",
  async () => {
    await using server = await PostgresServer.start();
    const file = await writeConfig(`[cluster]
driver = "postgres"
service = "api"
id = "pg-1"
heartbeat_interval = "200ms"
ttl = "1s"
[cluster.postgres]
schema = "ops"
`);
    const env = { ROSTER_POSTGRES_URL: server.url };
    const check = await runRunner(["check", "--config", file], env);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /driver=postgres/);

    await using runner = spawnRunner(["--config", file], env);
    await runner.waitForLine(/^roster: registered id=pg-1 .*driver=postgres/);
    const list = await runRunner(
      ["list", "--driver", "postgres", "--json"],
      { ...env, ROSTER_POSTGRES_SCHEMA: "ops" },
    );
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout).map((i: { id: string }) => i.id), [
      "pg-1",
    ]);
    const status = await runRunner(
      ["status", "--driver", "postgres"],
      { ...env, ROSTER_POSTGRES_SCHEMA: "ops" },
    );
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^backend\s+postgresql \d+/m);
    runner.child.kill("SIGTERM");
    assert.equal((await runner.status).code, 0);
    assert.match(runner.stdout.join("\n"), /id=pg-1 deregistered/);

    const unreachable = await runRunner(["list", "--driver", "postgres"], {
      ROSTER_POSTGRES_URL: "postgres://roster:hunter2secret@127.0.0.1:1/app",
    });
    assert.equal(unreachable.code, 1);
    assert.match(
      unreachable.stderr,
      /Cannot connect to PostgreSQL at postgres:\/\/roster:\*\*\*@127\.0\.0\.1:1\/app/,
    );
    assert.doesNotMatch(
      unreachable.stderr + unreachable.stdout,
      /hunter2secret/,
    );

    for (
      const [toml, message] of [
        [
          `url = "mysql://x"`,
          /'postgres.url': it must start with postgres:\/\//,
        ],
        [`schema = "Ops-1"`, /'postgres.schema': 'Ops-1' must be lower-case/],
        [
          `uri = "postgres://x"`,
          /Unknown key 'cluster.postgres.uri' \(did you mean 'url'\?\)/,
        ],
      ] as const
    ) {
      const bad = await writeConfig(
        `[cluster]\ndriver = "postgres"\nservice = "api"\n[cluster.postgres]\n${toml}\n`,
      );
      const result = await runRunner(["check", "--config", bad]);
      assert.equal(result.code, 2, toml);
      assert.match(result.stderr, message);
    }
  },
));
