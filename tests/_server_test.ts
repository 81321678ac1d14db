/**
 * A test that needs a server binary: skipped where it is not installed, and
 * failed instead under `CI=true`, where a server that cannot start must
 * never pass unnoticed. The test file passes the definition to `Deno.test`
 * itself, so reports name that file.
 *
 * @module
 */

const CI = Deno.env.get("CI") === "true";

/**
 * Defines a test that needs a server.
 *
 * @param missing Why the server cannot run here, or undefined when it can.
 * @param name The test's name.
 * @param fn The test.
 * @param options `leaky` for a client whose handles close on their own
 *   schedule (etcd3's gRPC channels), which the sanitizers would count.
 * @returns The definition for `Deno.test`.
 */
export function serverTest(
  missing: string | undefined,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  options: { leaky?: boolean } = {},
): Deno.TestDefinition {
  return {
    name,
    ignore: missing !== undefined && !CI,
    ...(options.leaky ? { sanitizeOps: false, sanitizeResources: false } : {}),
    fn: (t) => {
      if (missing !== undefined) {
        throw new Error(
          `${missing}; under CI=true its tests fail rather than skip`,
        );
      }
      return fn(t);
    },
  };
}

/**
 * The first of `paths` that is an installed file, for a test's tool or
 * server binary.
 *
 * @param paths Where it may be, in order.
 * @returns Its path, or undefined when none is there.
 */
export function installedBinary(...paths: string[]): string | undefined {
  return paths.find((path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  });
}
