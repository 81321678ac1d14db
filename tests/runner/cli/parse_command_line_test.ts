import assert from "node:assert/strict";
import { parseCommandLine } from "../../../runner/cli/parse_command_line.ts";
import { UsageError } from "../../../runner/commands/command.ts";
import { COMMANDS } from "../../../runner/commands/commands.ts";

Deno.test("the command line names the command, its flags and its arguments", () => {
  const list = parseCommandLine(["list", "-s", "api", "--all", "-o", "wide"]);
  assert.equal(list.name, "list");
  assert.deepEqual(list.values, { service: "api", all: true, output: "wide" });
  assert.equal(parseCommandLine([]).name, "run");
  assert.equal(parseCommandLine(["doctor"]).name, "status");
  const maintenance = parseCommandLine(["maintenance", "api-7", "on"]);
  assert.equal(maintenance.id, "api-7");
  assert.equal(maintenance.on, true);
  const sidecar = parseCommandLine(["run", "-c", "c.toml", "--", "node", "-v"]);
  assert.deepEqual(sidecar.command, ["node", "-v"]);
});

Deno.test("each usage mistake is a UsageError that says what to do", () => {
  const cases: [string[], RegExp][] = [
    [["lsit"], /unknown command 'lsit' \(did you mean 'list'\?\)/],
    [
      ["list", "--servce", "x"],
      /unknown flag '--servce' \(did you mean '--service'\?\)/,
    ],
    [["check", "--service", "x"], /'--service' is not a flag of 'check'/],
    [["list", "--service"], /'--service' needs a value/],
    [["list", "extra"], /'list' takes no argument 'extra'/],
    [["drain"], /'drain' needs the id of the instance/],
    [["maintenance", "api-7", "maybe"], /'maybe' is neither/],
    [["list", "--", "node"], /'--' starts a command only in run mode/],
    [["run", "--"], /nothing after '--'/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseCommandLine(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match((error as Error).message, message);
      return true;
    });
  }
});

Deno.test("every command takes -o json and --json", () => {
  const args: Record<string, string[]> = {
    drain: ["api-7"],
    maintenance: ["api-7", "on"],
  };
  for (const name of Object.keys(COMMANDS)) {
    for (const flag of [["-o", "json"], ["--json"]]) {
      const parsed = parseCommandLine([name, ...(args[name] ?? []), ...flag]);
      assert.equal(parsed.name, name);
    }
  }
});
