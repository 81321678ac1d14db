import assert from "node:assert/strict";
import { COMMON, flagLines, FLAGS, SOURCE } from "../../../runner/cli/flags.ts";
import { COMMANDS } from "../../../runner/commands/commands.ts";

Deno.test("flags: every flag has help, short forms are unique, and the driver flag names every driver", () => {
  const shorts = Object.values(FLAGS).flatMap((flag) =>
    "short" in flag ? [flag.short] : []
  );
  assert.equal(new Set(shorts).size, shorts.length);
  for (const [name, flag] of Object.entries(FLAGS)) {
    assert.ok(flag.help.length > 0, name);
  }
  assert.match(FLAGS.driver.help, /memory, redis, postgres, etcd/);
  for (const name of [...COMMON, ...SOURCE]) assert.ok(name in FLAGS, name);
});

Deno.test("flagLines aligns each flag's help in one column, with its short form and value name", () => {
  const lines = flagLines(["config", "help"]).split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^ {2}-c, --config FILE +the TOML file/);
  assert.match(lines[1]!, /^ {2}-h, --help +show help$/);
  assert.equal(
    lines[0]!.indexOf(FLAGS.config.help),
    lines[1]!.indexOf(FLAGS.help.help),
  );
  // A flag without a short form keeps the column of those with one.
  const [env] = flagLines(["env"]).split("\n");
  assert.match(env!, /^ {6}--env NAME {2}/);
});

Deno.test("every command's flags exist, and its help line names only them", () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    for (const flag of command.flags) {
      assert.ok(flag in FLAGS, `${name} --${flag}`);
    }
    assert.ok(
      command.summary.length > 0 && command.example.includes(name),
      name,
    );
  }
});
