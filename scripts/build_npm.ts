/**
 * Builds the npm package into `dist/npm/` from the same sources: TypeScript's
 * `tsc` (from the npm registry) emits ES modules and declarations, rewriting
 * the `.ts` in relative imports to `.js`. ioredis, LogTape, smol-toml,
 * dns-packet and the OpenTelemetry API stay real dependencies, never
 * inlined; pg and etcd3 are optional peers, for those who choose their
 * drivers. The runner is the package's `roster` bin.
 *
 * ```sh
 * deno task build:npm
 * ```
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = `${ROOT}dist/npm`;
const TOOLS = `${ROOT}dist/.build`;
const TYPESCRIPT = "5.9.3";
const NODE_TYPES = "20.19.25";

/** The package's dependencies: the import map's npm packages the code uses. */
const RUNTIME = [
  "@logtape/logtape",
  "@opentelemetry/api",
  "cockatiel",
  // The runner's DNS interface.
  "dns-packet",
  "ioredis",
  "smol-toml",
];
/**
 * Client libraries of the drivers that only some choose: optional peer
 * dependencies, loaded only when their driver is (a missing one is a clear
 * error naming it). etcd3 alone brings gRPC and protobufjs, 50 packages.
 */
const OPTIONAL_PEERS = [
  "etcd3",
  "pg",
  // PostgresDriver's declarations name pg's types.
  "@types/pg",
];

function run(command: string, args: string[], cwd = ROOT): void {
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status})`);
  }
}

function npmVersion(name: string): string {
  const specifier = (denoJson.imports as Record<string, string>)[name];
  const version = specifier?.replace(/^npm:(@?[^@]+)@/, "");
  if (!version) throw new Error(`'${name}' is not in deno.json's imports`);
  return version;
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(TOOLS, { recursive: true });
writeFileSync(
  `${TOOLS}/package.json`,
  JSON.stringify({
    private: true,
    devDependencies: {
      typescript: TYPESCRIPT,
      "@types/node": NODE_TYPES,
    },
  }),
);
run("npm", ["install", "--no-audit", "--no-fund", "--silent"], TOOLS);

// The library's entry points and everything they import; no tests.
const entries = Object.values(denoJson.exports).map((path) =>
  path.replace(/^\.\//, "")
);
writeFileSync(
  `${TOOLS}/tsconfig.json`,
  JSON.stringify(
    {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2023", "ESNext.Disposable", "DOM"],
        module: "ESNext",
        moduleResolution: "Bundler",
        rewriteRelativeImportExtensions: true,
        allowImportingTsExtensions: true,
        declaration: true,
        sourceMap: false,
        // Deno type-checked these sources already; tsc only transforms them.
        noCheck: true,
        skipLibCheck: true,
        strict: true,
        rootDir: ROOT,
        outDir: `${OUT}/esm`,
        types: ["node"],
        typeRoots: [`${TOOLS}/node_modules/@types`],
      },
      files: entries.map((entry) => `${ROOT}${entry}`),
    },
    null,
    2,
  ),
);
run("node", [
  `${TOOLS}/node_modules/typescript/bin/tsc`,
  "-p",
  `${TOOLS}/tsconfig.json`,
]);

// tsc rewrites `.ts` to `.js` in the JavaScript only; declarations too must
// name the files that ship.
for (const file of readdirSync(`${OUT}/esm`, { recursive: true })) {
  const path = `${OUT}/esm/${file}`;
  if (!String(file).endsWith(".d.ts")) continue;
  const text = readFileSync(path, "utf8");
  writeFileSync(
    path,
    text.replace(
      /((?:from|import)\s*\(?\s*["']\.{1,2}\/[^"']*?)\.ts(["'])/g,
      "$1.js$2",
    ),
  );
}

// ES modules only. `default` lets `require()` load them where Node can
// (20.19+, 22.12+); older versions say to use `import` instead.
const exportsMap: Record<
  string,
  { types: string; import: string; default: string }
> = {};
for (const [name, path] of Object.entries(denoJson.exports)) {
  const js = `./esm/${path.replace(/^\.\//, "").replace(/\.ts$/, ".js")}`;
  exportsMap[name] = {
    types: js.replace(/\.js$/, ".d.ts"),
    import: js,
    default: js,
  };
}
mkdirSync(`${OUT}/bin`, { recursive: true });
writeFileSync(
  `${OUT}/bin/roster.js`,
  `#!/usr/bin/env node
import process from "node:process";
import { main } from "../esm/runner/main.js";

process.exitCode = await main(process.argv.slice(2));
`,
  { mode: 0o755 },
);
writeFileSync(
  `${OUT}/package.json`,
  JSON.stringify(
    {
      name: denoJson.name,
      version: denoJson.version,
      description:
        "Service-instance heartbeats and a cluster registry: register, heartbeat, list, watch, elect. Memory, Redis (standalone, Sentinel, Cluster), PostgreSQL and etcd drivers; DNS and Prometheus discovery from the runner.",
      license: denoJson.license,
      type: "module",
      exports: exportsMap,
      bin: { roster: "./bin/roster.js" },
      engines: { node: ">=20" },
      dependencies: Object.fromEntries(
        RUNTIME.map((name) => [name, npmVersion(name)]),
      ),
      peerDependencies: Object.fromEntries(
        OPTIONAL_PEERS.map((name) => [name, `^${npmVersion(name)}`]),
      ),
      peerDependenciesMeta: Object.fromEntries(
        OPTIONAL_PEERS.map((name) => [name, { optional: true }]),
      ),
    },
    null,
    2,
  ) + "\n",
);
cpSync(`${ROOT}README.md`, `${OUT}/README.md`);
cpSync(`${ROOT}LICENSE`, `${OUT}/LICENSE`);
console.log(`built ${denoJson.name}@${denoJson.version} into dist/npm`);
