/**
 * The named errors roster throws. Every message is one sentence that quotes
 * the offending values and says how to fix them.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";

/**
 * A configuration value or an option is invalid. Thrown before anything is
 * registered, so a bad input never leaves a half-registered instance behind.
 *
 * @example Catch a bad option
 * ```ts
 * import { ConfigError, Registry } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => new Registry({ service: "api", heartbeatInterval: "10s", ttl: "5s" }),
 *   ConfigError,
 * );
 * ```
 */
export class ConfigError extends Error {
  /** The key or option at fault, such as `ttl` or `meta.zone`. */
  readonly field: string | undefined;
  /** The config file the value came from, when there is one. */
  readonly file: string | undefined;

  /**
   * Creates a config error.
   *
   * @param message One sentence naming the field, the value and the fix.
   * @param options The field, the file and the underlying cause.
   */
  constructor(
    message: string,
    options: { field?: string; file?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ConfigError";
    this.field = options.field;
    this.file = options.file;
  }
}

/**
 * An instance id is already held by another live owner. Registering the same
 * id from a second process fails with this error until the first owner
 * deregisters or its ttl runs out.
 *
 * @example
 * ```ts
 * import { AlreadyRegisteredError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const error = new AlreadyRegisteredError("api-1", "default");
 * assert.equal(error.id, "api-1");
 * ```
 */
export class AlreadyRegisteredError extends Error {
  /** The id that is taken. */
  readonly id: string;
  /** The env the id is taken in. */
  readonly env: string;

  /**
   * Creates the error for an id held by another owner.
   *
   * @param id The id that is taken.
   * @param env The env the id is taken in.
   * @param options The underlying cause, if any.
   */
  constructor(id: string, env: string, options: { cause?: unknown } = {}) {
    super(
      `Cannot register: id '${id}' in env '${env}' is held by another live owner; choose another 'id' or wait until that owner stops or its ttl expires`,
      options,
    );
    this.name = "AlreadyRegisteredError";
    this.id = id;
    this.env = env;
  }
}

/**
 * A method was called in a state that does not allow it, such as `start()`
 * on a registry that was already started or stopped.
 *
 * @example
 * ```ts
 * import { RegistryStateError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new RegistryStateError("x").name, "RegistryStateError");
 * ```
 */
export class RegistryStateError extends Error {
  /**
   * Creates the error.
   *
   * @param message One sentence saying what was called, in which state.
   */
  constructor(message: string) {
    super(message);
    this.name = "RegistryStateError";
  }
}

/**
 * An operation did not finish within its deadline.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new TimeoutError("heartbeat", 500).timeout, 500);
 * ```
 */
export class TimeoutError extends Error {
  /** The deadline that passed, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param operation What timed out, such as `heartbeat`.
   * @param timeout The deadline in milliseconds.
   */
  constructor(operation: string, timeout: number) {
    super(`Timed out: '${operation}' took longer than ${timeout}ms`);
    this.name = "TimeoutError";
    this.timeout = timeout;
  }
}

/**
 * Changes after a cursor were lost: the change log was trimmed past it, or
 * the backend lost its data. A watcher answers by comparing its view with a
 * fresh snapshot and reporting the difference.
 *
 * @example
 * ```ts
 * import { ChangeLogGapError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const error = new ChangeLogGapError("default", "7", { dataLost: true });
 * assert.equal(error.cursor, "7");
 * assert.equal(error.dataLost, true);
 * ```
 */
export class ChangeLogGapError extends Error {
  /** The cursor whose changes were lost. */
  readonly cursor: string;
  /**
   * True when the backend lost its data (a restart without persistence,
   * `FLUSHALL`), so a fresh snapshot may lack instances that are alive and
   * will register again; false when the log was only trimmed, so the
   * snapshot is complete.
   */
  readonly dataLost: boolean;

  /**
   * Creates the error.
   *
   * @param env The env whose log has the gap.
   * @param cursor The cursor that can no longer be read from.
   * @param options Whether the backend lost its data rather than trimming.
   */
  constructor(
    env: string,
    cursor: string,
    options: { dataLost?: boolean } = {},
  ) {
    super(
      `Changes in env '${env}' after cursor '${cursor}' were lost; take a new snapshot`,
    );
    this.name = "ChangeLogGapError";
    this.cursor = cursor;
    this.dataLost = options.dataLost ?? false;
  }
}

/**
 * `waitFor` gave up: too few instances were live when its timeout ran out.
 *
 * @example
 * ```ts
 * import { WaitForTimeoutError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const error = new WaitForTimeoutError("api", 3, 1, 30_000);
 * assert.match(error.message, /3 live instances of 'api'/);
 * ```
 */
export class WaitForTimeoutError extends TimeoutError {
  /** The service waited for. */
  readonly service: string;
  /** How many were wanted. */
  readonly min: number;
  /** How many were live at the end. */
  readonly live: number;

  /**
   * Creates the error.
   *
   * @param service The service waited for.
   * @param min How many were wanted.
   * @param live How many were live.
   * @param timeout The timeout in ms.
   */
  constructor(service: string, min: number, live: number, timeout: number) {
    super("waitFor", timeout);
    this.name = "WaitForTimeoutError";
    this.message = `Timed out after ${
      formatDuration(timeout)
    } waiting for ${min} live ${
      min === 1 ? "instance" : "instances"
    } of '${service}' (${live} live); check that they run in the same env and with the driver this process uses`;
    this.service = service;
    this.min = min;
    this.live = live;
  }
}

/**
 * Leader-only work was about to run without leadership: its lease may have
 * run out, or it ended. Thrown by `Leadership.assertValid()`.
 *
 * @example
 * ```ts
 * import { LeadershipLostError } from "@roster/roster";
 * import assert from "node:assert/strict";
 *
 * const error = new LeadershipLostError("api-1", "api", 42, "the lease may have run out");
 * assert.match(error.message, /term 42/);
 * ```
 */
export class LeadershipLostError extends Error {
  /** The term that is no longer held. */
  readonly term: number;
  /** Why it ended, such as `the registry stopped`. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param id The instance that led.
   * @param service Its service.
   * @param term The term it held.
   * @param reason Why it no longer leads.
   * @param options The cause, where one exists.
   */
  constructor(
    id: string,
    service: string,
    term: number,
    reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `'${id}' no longer leads '${service}' (term ${term}): ${reason}; stop leader-only work and stand by again`,
      options,
    );
    this.name = "LeadershipLostError";
    this.term = term;
    this.reason = reason;
  }
}
