/** The runner with `driver = "etcd"`, against a real server. */

import assert from "node:assert/strict";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";
import { EtcdServer, etcdTest } from "../../_etcd_server.ts";

Deno.test(etcdTest(
  "runner on etcd: run, list from another process, stop; bad tables exit 2",
  async () => {
    await using server = await EtcdServer.start();
    const file = await writeConfig(`[cluster]
driver = "etcd"
service = "api"
id = "etcd-1"
heartbeat_interval = "500ms"
ttl = "3s"
[cluster.etcd]
endpoints = ["${server.url}"]
`);
    await using runner = spawnRunner(["--config", file]);
    await runner.waitForLine(/^roster: registered id=etcd-1 .*driver=etcd/);
    const list = await runRunner(["list", "--driver", "etcd", "--json"], {
      ROSTER_ETCD_ENDPOINTS: server.url,
    });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout).map((i: { id: string }) => i.id), [
      "etcd-1",
    ]);
    // etcd carries no messages: `roster drain` says so, and what to do.
    const drain = await runRunner(["drain", "etcd-1", "--config", file]);
    assert.equal(drain.code, 1);
    assert.match(
      drain.stderr,
      /the etcd driver has no pub\/sub.*stop 'etcd-1' with SIGTERM on .* \(pid \d+\) instead/,
    );
    runner.child.kill("SIGTERM");
    assert.equal((await runner.status).code, 0);
    assert.match(runner.stdout.join("\n"), /id=etcd-1 deregistered/);

    for (
      const [toml, message] of [
        [
          `endpoints = "not a url"`,
          /'etcd.endpoints': 'not a url' must be a non-empty list of URLs/,
        ],
        [`username = "root"`, /set both 'username' and 'password', or neither/],
      ] as const
    ) {
      const bad = await writeConfig(
        `[cluster]\ndriver = "etcd"\nservice = "api"\n[cluster.etcd]\n${toml}\n`,
      );
      const result = await runRunner(["check", "--config", bad]);
      assert.equal(result.code, 2, toml);
      assert.match(result.stderr, message);
    }
  },
));
