import assert from "node:assert/strict";
import { RedisServer, redisTest } from "../../_redis_server.ts";
import { runRunner, spawnRunner, writeConfig } from "../../_runner_process.ts";
import { eventually } from "../../discovery/_discovery_suite.ts";

function config(url: string, id: string, extra = ""): Promise<string> {
  return writeConfig(`[cluster]
driver = "redis"
service = "api"
id = "${id}"
heartbeat_interval = "200ms"
ttl = "1s"
kill_timeout = "3s"
[cluster.redis]
url = "${url}"
${extra}
`);
}

async function listed(
  file: string,
  all = false,
): Promise<{ id: string; status: string }[]> {
  const { stdout, code, stderr } = await runRunner([
    "list",
    "--config",
    file,
    "--json",
    ...(all ? ["--all"] : []),
  ]);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout);
}

Deno.test(redisTest(
  "sidecar: SIGTERM drains, then signals the child, waits for it, and deregisters; the exit code passes through",
  async () => {
    await using server = await RedisServer.start();
    const file = await writeConfig(
      (await Deno.readTextFile(await config(server.url, "side"))).replace(
        'kill_timeout = "3s"',
        'kill_timeout = "3s"\ndrain_timeout = "300ms"',
      ),
    );
    // At SIGTERM the child lists the registry, then finishes what it has.
    const dir = await Deno.makeTempDir();
    const list = [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      new URL("../../../runner/main.ts", import.meta.url).pathname,
      "list",
      "--config",
      file,
      "--all",
      "--json",
    ].join(" ");
    const child = [
      "sh",
      "-c",
      `trap '${list} > ${dir}/at-term.json; echo got-term; sleep 0.3; exit 7' TERM; echo child-ready; while true; do sleep 0.05; done`,
    ];
    await using sidecar = spawnRunner(["--config", file, "--", ...child]);
    await sidecar.waitForLine(/^child-ready/);
    await sidecar.waitForLine(/^roster: registered id=side/);
    assert.deepEqual((await listed(file)).map((i) => i.id), ["side"]);
    sidecar.child.kill("SIGTERM");
    const status = await sidecar.status;
    assert.equal(status.code, 7, "the child's exit code");
    // When the child got the signal, it was listed as draining, not gone.
    const atTerm = JSON.parse(await Deno.readTextFile(`${dir}/at-term.json`));
    assert.deepEqual(
      atTerm.map((i: { id: string; status: string }) => [i.id, i.status]),
      [["side", "draining"]],
    );
    const output = sidecar.stdout.join("\n");
    assert.match(
      output,
      /SIGTERM: id=side is draining[^\n]*300ms[\s\S]*passing SIGTERM to the command[\s\S]*the command exited with 7; id=side deregistered/,
    );
    await Deno.remove(dir, { recursive: true });
    assert.deepEqual(await listed(file, true), []);
  },
));

Deno.test(redisTest(
  "sidecar: a child that exits or crashes by itself is deregistered, with its code",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "short");
    const done = await runRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      "sleep 1.5; exit 3",
    ]);
    assert.equal(done.code, 3);
    assert.match(
      done.stdout,
      /the command exited with 3; id=short deregistered/,
    );
    const crashed = await runRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      "sleep 1.5; kill -9 $$",
    ]);
    assert.equal(crashed.code, 137);
    assert.deepEqual(await listed(file), []);
    const missing = await runRunner([
      "--config",
      file,
      "--",
      "/nonexistent/program",
    ]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /cannot start '\/nonexistent\/program'/);
  },
));

Deno.test(redisTest(
  "sidecar: registers once healthy, and an unhealthy child is left out of default listings",
  async () => {
    await using server = await RedisServer.start();
    const dir = await Deno.makeTempDir();
    const flag = `${dir}/healthy`;
    const file = await config(
      server.url,
      "checked",
      `[cluster.health]\ncommand = "test -f ${flag}"\ninterval = "50ms"\ntimeout = "40ms"\nfailures = 2\nsuccesses = 1\n`,
    );
    await using sidecar = spawnRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      "while true; do sleep 0.05; done",
    ]);
    await sidecar.waitForLine(/^roster: started/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      await listed(file, true),
      [],
      "not registered while unhealthy",
    );
    await Deno.writeTextFile(flag, "");
    await sidecar.waitForLine(/^roster: registered id=checked/);
    assert.deepEqual((await listed(file)).map((i) => i.id), ["checked"]);
    await Deno.remove(flag);
    await eventually(
      "left out",
      async () => (await listed(file)).length === 0,
      5_000,
    );
    assert.deepEqual(
      (await listed(file, true)).map((i) => `${i.id} ${i.status}`),
      ["checked unhealthy"],
    );
    await Deno.writeTextFile(flag, "");
    await eventually(
      "back",
      async () => (await listed(file)).length === 1,
      5_000,
    );
    sidecar.child.kill("SIGTERM");
    await sidecar.status;
    await Deno.remove(dir, { recursive: true });
  },
));

Deno.test("sidecar usage errors exit 2", async () => {
  const file = await writeConfig(`[cluster]\nservice = "api"\n`);
  const empty = await runRunner(["--config", file, "--"]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /nothing after '--'/);
  const wrong = await runRunner(["list", "--config", file, "--", "sh"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /'--' starts a command only in run mode/);
});

/** Whether a process runs (a zombie, dead but not yet reaped, does not). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !==
      "Z";
  } catch {
    return false;
  }
}

async function readPid(path: string): Promise<number> {
  return await eventually("the pid file", async () => {
    try {
      const text = (await Deno.readTextFile(path)).trim();
      return text ? Number(text) : undefined;
    } catch {
      return undefined;
    }
  });
}

Deno.test(redisTest(
  "sidecar: SIGHUP drains and is passed on; SIGTERM reaches grandchildren through the process group",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "hup");
    await using hup = spawnRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      "trap 'echo got-hup; exit 5' HUP; echo child-ready; while true; do sleep 0.05; done",
    ]);
    await hup.waitForLine(/^roster: registered id=hup/);
    hup.child.kill("SIGHUP");
    assert.equal((await hup.status).code, 5);
    assert.match(
      hup.stdout.join("\n"),
      /SIGHUP: id=hup is draining[\s\S]*passing SIGHUP to the command[\s\S]*got-hup[\s\S]*exited with 5; id=hup deregistered/,
    );
    assert.deepEqual(await listed(file), []);

    const dir = await Deno.makeTempDir();
    await using tree = spawnRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      // A grandchild the shell does not wait for, and so never signals.
      `sleep 300 & echo $! > ${dir}/grandchild; while true; do sleep 0.05; done`,
    ]);
    await tree.waitForLine(/^roster: registered id=hup/);
    const grandchild = await readPid(`${dir}/grandchild`);
    assert.ok(alive(grandchild));
    tree.child.kill("SIGTERM");
    await tree.status;
    await eventually("the grandchild gone", () => !alive(grandchild));
    await Deno.remove(dir, { recursive: true });
  },
));

Deno.test(redisTest(
  "sidecar: a second signal kills a child that ignores SIGTERM; a SIGKILLed runner's child is stopped by the guard",
  async () => {
    await using server = await RedisServer.start();
    const file = await writeConfig(
      (await Deno.readTextFile(await config(server.url, "stubborn"))).replace(
        'kill_timeout = "3s"',
        'kill_timeout = "30s"',
      ),
    );
    const dir = await Deno.makeTempDir();
    await using stubborn = spawnRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      `trap '' TERM; echo $$ > ${dir}/stubborn; while true; do sleep 0.05; done`,
    ]);
    await stubborn.waitForLine(/^roster: registered id=stubborn/);
    const pid = await readPid(`${dir}/stubborn`);
    stubborn.child.kill("SIGTERM");
    await stubborn.waitForLine(/passing SIGTERM to the command/);
    assert.ok(alive(pid), "it ignores SIGTERM");
    stubborn.child.kill("SIGINT");
    try {
      await eventually("the stubborn child killed", () => !alive(pid));
    } finally {
      if (alive(pid)) Deno.kill(-pid, "SIGKILL");
    }
    assert.equal((await stubborn.status).code, 130);
    assert.deepEqual(await listed(file, true), [], "deregistered on the way");

    await using killed = spawnRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      `echo $$ > ${dir}/orphan; while true; do sleep 0.05; done`,
    ]);
    await killed.waitForLine(/^roster: registered id=stubborn/);
    const orphan = await readPid(`${dir}/orphan`);
    killed.child.kill("SIGKILL");
    try {
      await eventually("the orphan stopped", () => !alive(orphan));
    } finally {
      // Should the guard fail, the orphan holds the runner's output open.
      if (alive(orphan)) Deno.kill(-orphan, "SIGKILL");
    }
    await killed.status;
    // Its registration lapses with the ttl, as a crash's does.
    await eventually("expired", async () => (await listed(file)).length === 0);
    await Deno.remove(dir, { recursive: true });
  },
));

Deno.test(redisTest(
  "sidecar: a child that exits at once is never registered",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "brief");
    const admin = await server.admin();
    const { code, stdout } = await runRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      "exit 4",
    ]);
    assert.equal(code, 4);
    assert.match(stdout, /the command exited with 4 before it was registered/);
    assert.doesNotMatch(stdout, /registered id=/);
    assert.equal(
      await admin.exists("roster:{default}:ids"),
      0,
      "never written",
    );
  },
));

Deno.test(redisTest(
  "sidecar: with Redis down the child starts anyway, and is registered once Redis answers",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "patient");
    await server.stop();
    await using sidecar = spawnRunner([
      "--config",
      file,
      "--",
      "sh",
      "-c",
      "echo child-up; while true; do sleep 0.05; done",
    ]);
    await sidecar.waitForLine(/^child-up/);
    await eventually(
      "says it runs unregistered",
      () =>
        sidecar.stderr.some((l) =>
          /the command runs unregistered, and roster registers it as soon as the backend answers/
            .test(l)
        ),
    );
    await server.restart();
    await sidecar.waitForLine(/^roster: registered id=patient/, 15_000);
    assert.ok(
      sidecar.stdout.some((l) => /the redis backend answers again/.test(l)),
    );
    assert.deepEqual((await listed(file)).map((i) => i.id), ["patient"]);
    sidecar.child.kill("SIGTERM");
    await sidecar.status;
  },
));

/** Whether a process runs: it exists and is not a zombie awaiting its reaper. */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

Deno.test(redisTest(
  "sidecar: nothing the command started outlives the runner, even a grandchild that ignores SIGTERM",
  async () => {
    await using server = await RedisServer.start();
    const file = await config(server.url, "parent");
    const pidFile = await Deno.makeTempFile();
    // A grandchild that ignores SIGTERM, in the command's process group. It
    // holds the runner's output pipes too, so the test waits on the runner
    // process itself, and kills what is left before it leaves.
    const grandchild =
      `sh -c 'trap "" TERM; echo $$ > ${pidFile}; while true; do sleep 0.1; done' &`;
    const grandchildPid = () =>
      eventually(
        "the grandchild's pid",
        () => Number(Deno.readTextFileSync(pidFile).trim()) || undefined,
      );
    const leftovers: number[] = [];
    try {
      // On SIGTERM: the command exits at once, the grandchild stays.
      const stopped = spawnRunner([
        "--config",
        file,
        "--",
        "sh",
        "-c",
        `${grandchild} trap 'exit 0' TERM; while true; do sleep 0.1; done`,
      ]);
      await stopped.waitForLine(/^roster: registered id=parent/);
      const first = await grandchildPid();
      leftovers.push(first);
      assert.ok(running(first));
      stopped.child.kill("SIGTERM");
      assert.equal((await stopped.child.status).code, 0);
      assert.equal(running(first), false, "the grandchild was killed");
      await stopped.status;
      assert.match(
        stopped.stderr.join("\n"),
        /processes the command started were still running 3s after the signal; killing its process group/,
      );

      // The command exits by itself and leaves the grandchild behind.
      await Deno.writeTextFile(pidFile, "");
      const left = spawnRunner([
        "--config",
        file,
        "--",
        "sh",
        "-c",
        `${grandchild} sleep 1.5; exit 4`,
      ]);
      const second = await grandchildPid();
      leftovers.push(second);
      assert.equal((await left.child.status).code, 4);
      assert.equal(running(second), false, "the orphan was killed");
      await left.status;
    } finally {
      for (const pid of leftovers) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone, as it should be */ }
      }
      await Deno.remove(pidFile);
    }
  },
));
