/**
 * roster's version, for the runner's `--version` and telemetry. A test
 * keeps it equal to `deno.json`'s.
 *
 * @module
 */

/** The package version. */
export const VERSION = "0.1.0";
