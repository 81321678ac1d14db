/**
 * The PostgreSQL driver, on node-postgres (`npm:pg`): expiry by the
 * database's clock, one statement per heartbeat, a change log read by
 * cursor (`LISTEN`/`NOTIFY` only wakes readers), one purger per env at a
 * time, terms that only rise, and messages over `NOTIFY`.
 *
 * ```ts ignore
 * import { Registry } from "@roster/roster";
 * import { PostgresDriver } from "@roster/roster/postgres";
 *
 * const driver = await PostgresDriver.connect({ url: "postgres://roster@db/app" });
 * await using registry = new Registry({ driver, service: "api" });
 * await registry.start();
 * ```
 *
 * The tables (see `_schema.ts`) are versioned: created or brought up to
 * date under `schema` (default `roster`) only when they are missing or
 * behind, so the role needs `CREATE` on the database the first time (and
 * at an upgrade), and otherwise only `USAGE` on the schema and `SELECT`,
 * `INSERT`, `UPDATE`, `DELETE` on its tables; a steady start runs no DDL.
 * It works
 * through PgBouncer in session mode; transaction mode breaks `LISTEN`, so
 * watchers fall back to polling every wait, and messages are not delivered.
 *
 * @module
 */

import { ownerDigest } from "../../contract/owner_digest.ts";
import {
  type DoubtfulLapse,
  type ListingRead,
  settledListing,
} from "../../contract/settled_listing.ts";
import { redactUrl, withoutPassword } from "../../contract/redact_url.ts";
import { Buffer } from "node:buffer";
// @ts-types="@types/pg"
import pg from "pg";
import { getLogger } from "@logtape/logtape";
import type {
  BackendStatus,
  Change,
  ChangeBatch,
  ChangeReason,
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
  Snapshot,
} from "../../contract/driver.ts";
import {
  AlreadyRegisteredError,
  ChangeLogGapError,
  ConfigError,
} from "../../errors.ts";
import {
  type Instance,
  parseInstanceStatus,
  takesWork,
} from "../../instance.ts";
import {
  instanceOfRow,
  NOW_MS,
  type Queryable,
  type Row,
  rows,
} from "./_codec.ts";
import type {
  PostgresConnectOptions,
  PostgresDriverOptions,
  PostgresPool,
} from "./options.ts";

export type {
  PostgresConnectOptions,
  PostgresDriverOptions,
  PostgresPool,
} from "./options.ts";
import { MessageTooLargeError } from "../../messaging/message.ts";
import { SCHEMA_NAME, SCHEMA_VERSION, schemaStatements } from "./_schema.ts";

const log = getLogger(["roster", "postgres"]);

/** NOTIFY's payload limit, less one byte. */
export const MAX_NOTIFY_BYTES = 7_999;
/** How many changes each env's log keeps. */
const LOG_LENGTH = 10_000;
/** The most entries one purge removes. */
const PURGE_BATCH = 500;
/** The most changes one read returns. */
const READ_BATCH = 1_000;
/** How long a process waits for another's migration, and each DDL statement may take, in ms. */
const MIGRATION_WAIT_MS = 30_000;
/** How long a migration waits for a table lock before it gives up. */
const MIGRATION_LOCK_TIMEOUT_MS = 500;
/** PostgreSQL's codes for a missing table and a missing schema. */
const UNDEFINED_TABLE = "42P01";
const INVALID_SCHEMA = "3F000";
/** The change log is trimmed to LOG_LENGTH every this many changes. */
const TRIM_EVERY = 256;
/**
 * How long a purge that saw an outage of its own holds back lapses no beat
 * came after, in ms: time for the owners' held beats to land.
 */
const PURGE_SETTLE_MS = 250;
/** A purge that reached the database this much later than sent waited out an outage itself. */
const PURGE_STALL_MS = 100;
/**
 * How much later than sent a beat must land to be evidence of a stall
 * (a freeze, a lock): a sixth of its ttl, from 20 to 500 ms. The SQL form
 * judges a row by its own ttl.
 */
function stallOf(ttl: number): number {
  return Math.min(500, Math.max(20, ttl / 6));
}
const STALL_SQL = "least(500, greatest(20, ttl / 6))";
/** How long a listing's test write waits for a lock, in ms. */
const PROBE_LOCK_TIMEOUT_MS = 250;
/** How soon a purge that deferred a lapse asks again, in ms. */
const DEFERRED_PURGE_RETRY_MS = 50;
/** A clock offset this much below the best seen means the clock went back. */
const CLOCK_JUMP_MS = 60_000;
/**
 * How far back a listing looks for entries that lapsed with no beat after
 * them (see #list), in ms: the longest ttl.
 */
const DOUBT_WINDOW_MS = 3_600_000;
/** The longest wait before a dropped LISTEN connection is opened again. */
const MAX_RELISTEN_MS = 5_000;

/** When a beat was sent, and when its owner's own outage began, if any. */
type Beat = { sent: number | null; own: number | null };

/** What a purge and a late beat judge a lapse by (see #outageEvidence). */
interface OutageEvidence {
  now: number;
  started: number;
  lastBeat: number;
  freshest: number;
  outFrom: number;
  outTo: number;
}

/**
 * Whether a failed call says the database could not be reached or did
 * not answer in time (a freeze, a restart, a lock that stalls writes),
 * rather than refusing the call.
 */
function isOutage(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    // Connection exceptions, shutdowns, a lock or statement timeout.
    return code.startsWith("08") || code.startsWith("57P") ||
      code === "55P03" || code === "57014";
  }
  if (error instanceof AlreadyRegisteredError || error instanceof ConfigError) {
    return false;
  }
  return /timeout|terminat|ECONNREFUSED|ECONNRESET|Connection/i.test(
    String((error as Error)?.message ?? error),
  );
}
/**
 * A registry backend on PostgreSQL.
 *
 * @example
 * ```ts ignore
 * import { PostgresDriver } from "@roster/roster/postgres";
 *
 * const driver = await PostgresDriver.connect({ url: "postgres://postgres@127.0.0.1/postgres" });
 * console.log(await driver.services("default"));
 * await driver.close();
 * ```
 */
export class PostgresDriver implements Driver {
  /** Always `"postgres"`. */
  readonly name = "postgres";
  /** The pool this driver queries through. */
  readonly pool: PostgresPool;
  /** The schema its tables live in. */
  readonly schema: string;
  #owned = false;
  /** Schema-qualified table names, quoted. */
  readonly #t: {
    envs: string;
    instances: string;
    changes: string;
    leaders: string;
    schemaVersion: string;
  };
  readonly #changesChannel: string;
  readonly #messagesChannel: string;
  #ready: Promise<void> | undefined;
  /** A call found a table or the schema missing: migrate whatever the version says. */
  #tablesLost = false;
  /** The database's clock less this process's monotonic clock. */
  #offset: number | undefined;
  /**
   * Since when calls failed (the first failed call's start) until the last
   * failure, by this process's monotonic clock: not yet reported.
   */
  #outage: { from: number; to: number; reported?: boolean } | undefined;
  /**
   * Each registration's last lease this process saw, so that a row lost
   * while its lease ran (deleted by hand, restored from an older backup)
   * comes back under the same seq.
   */
  readonly #leases = new WeakMap<
    Registration,
    { seq: number; registeredAt: number; expiresAt: number; ttl: number }
  >();
  /**
   * Until then (monotonic) a purge removes only lapses well before
   * `#settleFrom` (by the database's clock): the outage it saw began then.
   */
  #settleUntil = 0;
  #settleFrom = 0;
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  #listener: pg.Client | undefined;
  #listening: Promise<void> | undefined;
  #relisten: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * Wraps a node-postgres pool you already have; closing the driver leaves
   * it open.
   *
   * @param pool A `pg.Pool`.
   * @param options The schema.
   * @throws {ConfigError} For a schema name that is not lower-case letters,
   *   digits and `_`.
   */
  constructor(pool: PostgresPool, options: PostgresDriverOptions = {}) {
    const schema = options.schema ?? "roster";
    if (!SCHEMA_NAME.test(schema)) {
      throw new ConfigError(
        `Invalid 'schema': '${schema}' must be 1 to 41 lower-case letters, digits or '_', starting with a letter or '_'`,
        { field: "schema" },
      );
    }
    this.pool = pool;
    this.schema = schema;
    this.#t = {
      envs: `"${schema}".envs`,
      instances: `"${schema}".instances`,
      changes: `"${schema}".changes`,
      leaders: `"${schema}".leaders`,
      schemaVersion: `"${schema}".schema_version`,
    };
    this.#changesChannel = `${schema}_changes`;
    this.#messagesChannel = `${schema}_messages`;
  }

  /**
   * Opens a pool of the driver's own, which `close()` ends, and makes sure
   * the schema exists.
   *
   * @param options The URL, pool size and schema.
   * @returns The driver, connected.
   * @throws {Error} When the database cannot be reached, in one line
   *   without the password.
   */
  static async connect(
    options: PostgresConnectOptions = {},
  ): Promise<PostgresDriver> {
    const url = options.url ?? "postgres://localhost:5432/postgres";
    try {
      new URL(url);
    } catch {
      // No cause: the parser's error quotes the URL, password and all.
      throw new ConfigError(
        `Cannot connect to PostgreSQL: the URL '${
          redactUrl(url)
        }' cannot be parsed; write it as postgres://user:password@host:5432/db, with a port from 1 to 65535 and an IPv6 host in brackets`,
      );
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 4,
      connectionTimeoutMillis: options.connectTimeout ?? 5_000,
      query_timeout: options.queryTimeout ?? 5_000,
    });
    // An idle connection the server dropped is replaced on next use; the
    // error must not go unhandled.
    pool.on(
      "error",
      (error) =>
        log.debug("An idle PostgreSQL connection failed: {error}", {
          error: error.message,
        }),
    );
    const driver = new PostgresDriver(pool, options);
    driver.#owned = true;
    try {
      await driver.#schemaReady();
    } catch (error) {
      await pool.end().catch(() => {});
      throw new Error(
        `Cannot connect to PostgreSQL at ${redactUrl(url)}: ${
          withoutPassword(String((error as Error)?.message ?? error), url)
        }`,
        { cause: error },
      );
    }
    return driver;
  }

  /** Runs `body` in a transaction on one pooled connection. */
  async #transaction<T>(
    body: (db: Queryable) => Promise<T>,
    begin = "begin",
  ): Promise<T> {
    const client = await this.pool.connect();
    // A connection that dies mid-transaction also emits 'error'; the query
    // rejects with it already, and an unheard 'error' would end the process.
    let broken: Error | undefined;
    const onError = (error: Error) => broken = error;
    client.on("error", onError);
    try {
      await client.query(begin);
      const result = await body(client);
      await client.query("commit");
      return result;
    } catch (error) {
      await client.query("rollback").catch((cause: Error) => broken = cause);
      throw error;
    } finally {
      client.off("error", onError);
      // A connection that failed is not put back.
      client.release(broken);
    }
  }

  /**
   * Makes sure the tables are at {@linkcode SCHEMA_VERSION}: one read when
   * they are, so a steady start runs no DDL; migrations only when they are
   * behind or missing, under an advisory lock and a lock timeout, so a long
   * reader fails the migration rather than stall every heartbeat behind it.
   */
  #schemaReady(): Promise<void> {
    this.#ready ??= this.#ensureSchema().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #ensureSchema(): Promise<void> {
    if (
      !this.#tablesLost &&
      await this.#schemaVersion(this.pool) === SCHEMA_VERSION
    ) return;
    await this.#transaction(async (db) => {
      // Many processes may start at once; one migrates, the others wait,
      // longer than a heartbeat's query timeout (the lock timeout bounds
      // what the migration itself waits for).
      await rows(
        db,
        "select pg_advisory_xact_lock(hashtext($1))",
        [this.schema],
        MIGRATION_WAIT_MS,
      );
      const version = await this.#schemaVersion(db);
      if (version === SCHEMA_VERSION && !this.#tablesLost) return;
      await db.query(`set local lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
      try {
        for (const statement of schemaStatements(this.schema)) {
          await rows(db, statement, [], MIGRATION_WAIT_MS);
        }
      } catch (error) {
        throw new Error(
          `Cannot bring schema '${this.schema}' from version ${version} to ${SCHEMA_VERSION}: ${
            (error as Error)?.message ?? error
          }; a long query may hold a table it changes: try again when it ends`,
          { cause: error },
        );
      }
      await db.query(`delete from ${this.#t.schemaVersion}`);
      await db.query(
        `insert into ${this.#t.schemaVersion} (version) values ($1)`,
        [SCHEMA_VERSION],
      );
    });
    this.#tablesLost = false;
  }

  /**
   * The tables' version: 0 when they are missing (or were made before
   * versions were kept). Throws for a version this release does not read.
   */
  async #schemaVersion(db: Queryable): Promise<number> {
    // At start, many processes at once: longer than a heartbeat may wait.
    const [present] = await rows(
      db,
      "select to_regclass($1) is not null as ok",
      [this.#t.schemaVersion],
      MIGRATION_WAIT_MS,
    );
    if (!present?.ok) return 0;
    const [row] = await rows(
      db,
      `select max(version) as version from ${this.#t.schemaVersion}`,
      [],
      MIGRATION_WAIT_MS,
    );
    const version = Number(row?.version ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new ConfigError(
        `Cannot use schema '${this.schema}': its tables are at version ${version}, newer than this release of roster reads (${SCHEMA_VERSION}); upgrade roster on this host`,
        { field: "schema" },
      );
    }
    return version;
  }

  /**
   * Runs a public call; a table or the schema found missing (dropped by
   * hand, restored without it) is put back by the next call.
   */
  async #guarded<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      await this.#schemaReady();
      const result = await work();
      // Reported, and a call got through after: the outage is over. (Not
      // at the report itself, which may land while beats still fail, so
      // that every report runs from the first failure.)
      if (this.#outage?.reported) this.#outage = undefined;
      return result;
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      if (code === UNDEFINED_TABLE || code === INVALID_SCHEMA) {
        this.#tablesLost = true;
        this.#ready = undefined;
      }
      if (isOutage(error)) {
        this.#outage = {
          from: this.#outage?.from ?? started,
          to: performance.now(),
          reported: this.#outage?.reported,
        };
      }
      throw error;
    }
  }

  /** Keeps the lease a call saw, for a row lost while it runs. */
  #remember(registration: Registration, instance: Instance): void {
    this.#leases.set(registration, {
      seq: instance.seq,
      registeredAt: instance.registeredAt,
      expiresAt: instance.expiresAt,
      ttl: registration.ttl,
    });
  }

  /** Learns the database's clock from a reply's `now`. */
  #learnClock(now: number): void {
    const offset = now - performance.now();
    if (
      this.#offset === undefined || offset > this.#offset ||
      offset < this.#offset - CLOCK_JUMP_MS
    ) this.#offset = offset;
  }

  /** Now by the database's clock, as far as this process knows it. */
  #dbNow(): number | null {
    return this.#offset === undefined
      ? null
      : Math.round(performance.now() + this.#offset);
  }

  /**
   * Reports this process's failed calls to the env, as a window by the
   * database's clock, merged with the one stored: the evidence on which
   * rows that fell due meanwhile are graced.
   */
  async #reportOutage(env: string): Promise<void> {
    const outage = this.#outage;
    if (!outage || this.#offset === undefined) return;
    await this.#reportWindow(
      env,
      Math.round(outage.from + this.#offset),
      Math.round(outage.to + this.#offset),
    );
    outage.reported = true;
  }

  /**
   * Merges an outage window, by the database's clock, into the env's.
   */
  async #reportWindow(env: string, from: number, to: number): Promise<void> {
    // It ends when the report lands, at the earliest: a report sent while
    // the database was frozen lands as it resumes, and the failures after
    // it was sent belong to the same window.
    await this.pool.query(
      `update ${this.#t.envs} set
         out_from = case when out_to >= $2::int8 then least(out_from, $2::int8)
                    else $2::int8 end,
         out_to = greatest(out_to, $3::int8, ${NOW_MS})
       where env = $1`,
      [env, from, to],
    );
  }

  /**
   * Creates the env's row when missing: on first use, or after it was lost,
   * with a new epoch (so old cursors read as a gap) and `seq` from the
   * clock (so it still only rises).
   */
  async #ensureEnv(db: Queryable, env: string): Promise<void> {
    // A lost row comes back past every change position and seq still
    // stored, so neither collides with what is left.
    await db.query(
      `insert into ${this.#t.envs} (env, epoch, seq, log_pos)
       values ($1, $2,
         greatest(${NOW_MS},
           (select coalesce(max(seq), 0) + 1 from ${this.#t.instances} where env = $1)),
         (select coalesce(max(pos), 0) from ${this.#t.changes} where env = $1))
       on conflict (env) do nothing`,
      [env, crypto.randomUUID().slice(0, 8)],
    );
  }

  /** Locks the env's row, creating it when missing. */
  async #lockEnv(db: Queryable, env: string): Promise<void> {
    await this.#ensureEnv(db, env);
    await db.query(
      `select 1 from ${this.#t.envs} where env = $1 for update`,
      [env],
    );
  }

  async #record(
    db: Queryable,
    env: string,
    type: Change["type"],
    reason: ChangeReason,
    instance: Instance,
  ): Promise<void> {
    const [recorded] = await rows(
      db,
      `with p as (
         update ${this.#t.envs} set log_pos = log_pos + 1 where env = $1
         returning log_pos)
       insert into ${this.#t.changes} (env, pos, type, reason, instance)
       select $1, log_pos, $2, $3, $4 from p returning pos`,
      [env, type, reason, JSON.stringify(instance)],
    );
    // Capped under any churn, not only when something expires.
    const pos = Number(recorded?.pos ?? 0);
    if (pos % TRIM_EVERY === 0) {
      await db.query(
        `delete from ${this.#t.changes} where env = $1 and pos <= $2::int8`,
        [env, pos - LOG_LENGTH],
      );
    }
    // Delivered at commit; readers only use it to wake up.
    await db.query("select pg_notify($1, $2)", [this.#changesChannel, env]);
  }

  /**
   * Registers, or refreshes an entry this owner holds.
   *
   * @param registration The registration.
   * @returns The stored instance.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  async register(registration: Registration): Promise<Instance> {
    return (await this.#upsert(registration, "registered")).instance;
  }

  /**
   * Extends a registration: one `UPDATE` while it is live and its status is
   * unchanged; otherwise a transaction that records the change, or creates
   * it again.
   *
   * @param registration The registration.
   * @returns The instance, and whether it was created again.
   * @throws {AlreadyRegisteredError} When another live owner holds the id.
   */
  async heartbeat(registration: Registration): Promise<HeartbeatResult> {
    return await this.#guarded(async () => {
      const { env, id, status } = registration;
      // This owner's own outage, by the database's clock: its lapse in it
      // is no crash (see #upsert).
      const own = this.#outage && this.#offset !== undefined
        ? this.#outage.from + this.#offset
        : null;
      if (this.#outage) await this.#reportOutage(env);
      const sent = this.#dbNow();
      // Live, or sent before its lease ran out and held up on the way (a
      // lock, a freeze): it goes on under its seq, as it would have. A
      // beat that itself waited (a sixth of its ttl, at most 500 ms) is the
      // evidence of the stall, however long it was.
      const [row] = await rows(
        this.pool,
        `update ${this.#t.instances} set
           heartbeat_at = n.now, expires_at = n.now + ttl, grace_until = 0
         from (select ${NOW_MS} as now) n
         where env = $1 and id = $2 and owner = $3 and status = $4
           and (expires_at > n.now or ($5::int8 is not null
             and expires_at >= $5::int8 and (n.now < expires_at + ttl
               or n.now - $5::int8 >= ${STALL_SQL})))
         returning seq, registered_at, heartbeat_at, expires_at`,
        [env, id, ownerDigest(registration.owner), status, sent],
      );
      if (row) {
        const landed = Number(row.heartbeat_at);
        this.#learnClock(landed);
        if (sent !== null && landed - sent >= stallOf(registration.ttl)) {
          // This beat waited out a freeze or a lock itself: others' leases
          // may have run out meanwhile, their beats held the same way.
          await this.#reportWindow(env, sent, landed);
        }
        const instance: Instance = {
          id,
          service: registration.service,
          env,
          version: registration.version,
          addr: registration.addr,
          meta: { ...registration.meta },
          hostname: registration.hostname,
          pid: registration.pid,
          status,
          seq: Number(row.seq),
          registeredAt: Number(row.registered_at),
          heartbeatAt: Number(row.heartbeat_at),
          expiresAt: Number(row.expires_at),
          heartbeatInterval: registration.heartbeatInterval,
          weight: registration.weight ?? 100,
        };
        this.#remember(registration, instance);
        return { instance, reregistered: false };
      }
      return await this.#upsert(registration, "reregistered", { sent, own });
    });
  }

  async #upsert(
    registration: Registration,
    reason: "registered" | "reregistered",
    beat: Beat = { sent: null, own: null },
  ): Promise<HeartbeatResult> {
    return await this.#guarded(async () => {
      const { env, id } = registration;
      const result = await this.#transaction(async (db) => {
        // The env row's lock orders the env's changes: positions commit in order.
        await this.#lockEnv(db, env);
        const [clock] = await rows(db, `select ${NOW_MS} as now`);
        const now = Number(clock!.now);
        this.#learnClock(now);
        const [row] = await rows(
          db,
          `select * from ${this.#t.instances} where env = $1 and id = $2 for update`,
          [env, id],
        );
        const renewed = row &&
          await this.#renew(db, row, registration, now, beat);
        if (renewed) return renewed;
        // No row (or a lapsed one just removed): one this process held a
        // lease on, lost while it ran or in an outage, comes back under
        // its seq; anything else is new.
        const lease = row || reason === "registered"
          ? undefined
          : this.#leases.get(registration);
        const restored = lease !== undefined &&
          (lease.expiresAt > now ||
            await this.#lapseExplained(
              db,
              env,
              lease.expiresAt,
              lease.ttl,
              now,
              beat,
            ));
        const instance = await this.#insert(
          db,
          registration,
          now,
          restored ? lease : undefined,
        );
        await this.#record(
          db,
          env,
          "join",
          restored ? "reregistered" : reason,
          instance,
        );
        return {
          instance,
          reregistered: !restored && reason === "reregistered",
        };
      });
      this.#remember(registration, result.instance);
      return result;
    });
  }

  /**
   * Renews a registration's row when it is its owner's and live, or held
   * through an outage the database went through (same seq). A lapsed row
   * is removed as expired; a live row of another owner refuses the id.
   *
   * @returns The renewal, or undefined when a new row must be written.
   */
  async #renew(
    db: Queryable,
    row: Row,
    registration: Registration,
    now: number,
    beat: Beat,
  ): Promise<HeartbeatResult | undefined> {
    const { env, id } = registration;
    const live = Number(row.expires_at) > now;
    const graced = Number(row.grace_until) > now ||
      (!live &&
        await this.#lapseExplained(
          db,
          env,
          Number(row.expires_at),
          Number(row.ttl),
          now,
          beat,
        ));
    if (row.owner === ownerDigest(registration.owner) && (live || graced)) {
      const [updated] = await rows(
        db,
        `update ${this.#t.instances} set
           heartbeat_at = $3::int8, expires_at = $3::int8 + ttl, grace_until = 0,
           status = $4
         where env = $1 and id = $2 returning *`,
        [env, id, now, registration.status],
      );
      const instance = instanceOfRow(updated!, env);
      if (row.status !== registration.status) {
        await this.#record(db, env, "update", "health", instance);
      }
      return { instance, reregistered: false };
    }
    if (live) throw new AlreadyRegisteredError(id, env);
    await db.query(
      `delete from ${this.#t.instances} where env = $1 and id = $2`,
      [env, id],
    );
    await this.#record(db, env, "leave", "expired", instanceOfRow(row, env));
    return undefined;
  }

  /**
   * Writes a registration's row: under the seq and registration time of
   * `restored` (a lease this process held), or under the env's next seq.
   */
  async #insert(
    db: Queryable,
    registration: Registration,
    now: number,
    restored: { seq: number; registeredAt: number } | undefined,
  ): Promise<Instance> {
    const { env } = registration;
    const [created] = await rows(
      db,
      `with s as (
         update ${this.#t.envs} set seq = greatest(seq + 1, $15::int8)
         where env = $1 returning seq)
       insert into ${this.#t.instances} (
         env, id, service, owner, seq, registered_at, heartbeat_at,
         expires_at, ttl, heartbeat_interval, status, version, addr,
         hostname, pid, meta, weight)
       select $1, $2, $3, $4, coalesce($15::int8, s.seq),
         coalesce($16::int8, $5::int8), $5::int8, $5::int8 + $6::int4,
         $6::int4, $7, $8, $9, $10,
         $11, $12, $13, $14 from s
       returning *`,
      [
        env,
        registration.id,
        registration.service,
        ownerDigest(registration.owner),
        now,
        registration.ttl,
        registration.heartbeatInterval,
        registration.status,
        registration.version,
        registration.addr,
        registration.hostname,
        registration.pid,
        JSON.stringify(registration.meta),
        registration.weight ?? 100,
        restored?.seq ?? null,
        restored?.registeredAt ?? null,
      ],
    );
    return instanceOfRow(created!, env);
  }

  /**
   * The evidence of an outage: the server's own (when it last started, and
   * the env's last beat accepted before that: a row that expired after
   * that beat, less than its ttl after the start, fell due while no one
   * could beat), and the window clients reported (their calls failed from
   * `outFrom` to `outTo`). Also the env's freshest beat.
   */
  async #outageEvidence(
    db: Queryable,
    env: string,
  ): Promise<OutageEvidence> {
    const [facts] = await rows(
      db,
      `select ${NOW_MS} as now,
         (extract(epoch from pg_postmaster_start_time()) * 1000)::int8 as started,
         e.out_from, e.out_to
       from (select 1) one
       left join ${this.#t.envs} e on e.env = $1`,
      [env],
    );
    const started = Number(facts!.started);
    const [last] = await rows(
      db,
      `select coalesce(max(heartbeat_at) filter (where heartbeat_at < $2), 0) as at,
         coalesce(max(heartbeat_at), 0) as freshest
       from ${this.#t.instances} where env = $1`,
      [env, started],
    );
    return {
      now: Number(facts!.now),
      started,
      lastBeat: Number(last!.at),
      freshest: Number(last!.freshest),
      outFrom: Number(facts!.out_from ?? 0),
      outTo: Number(facts!.out_to ?? 0),
    };
  }

  /**
   * Whether a lease that ran out at `expires` is no crash: the beat was
   * sent before it ran out, however late it landed (the database was
   * frozen or its table locked: it landed within a ttl, or it waited
   * itself, as the heartbeat's update judges), or it ran out while its
   * owner could not reach the database (until it sent this beat, however
   * long that was: the owner ran all along), or in an outage the evidence
   * shows.
   */
  async #lapseExplained(
    db: Queryable,
    env: string,
    expires: number,
    ttl: number,
    now: number,
    beat: Beat,
  ): Promise<boolean> {
    const { sent, own } = beat;
    if (sent !== null) {
      const waited = now - sent >= stallOf(ttl);
      if (sent <= expires && (now < expires + ttl || waited)) return true;
      if (own !== null && own <= expires) return true;
    }
    const { started, lastBeat, outFrom, outTo } = await this.#outageEvidence(
      db,
      env,
    );
    return (started + ttl > now && expires > lastBeat) ||
      (outFrom <= expires && expires <= outTo && now < outTo + ttl);
  }

  /**
   * Removes a registration if `key.owner` holds it.
   *
   * @param key The registration and its owner.
   * @returns Whether an entry was removed.
   */
  async deregister(key: RegistrationKey): Promise<boolean> {
    this.#leases.delete(key as Registration);
    return await this.#guarded(async () => {
      return await this.#transaction(async (db) => {
        await this.#lockEnv(db, key.env);
        const [row] = await rows(
          db,
          `delete from ${this.#t.instances}
           where env = $1 and id = $2 and owner = $3 returning *`,
          [key.env, key.id, ownerDigest(key.owner)],
        );
        if (!row) return false;
        await this.#record(
          db,
          key.env,
          "leave",
          "deregistered",
          instanceOfRow(row, key.env),
        );
        return true;
      });
    });
  }

  /**
   * Lists live instances, oldest first: those whose expiry is ahead of the
   * database's clock, purged or not.
   *
   * @param query The env and services.
   * @returns The live instances.
   */
  async list(query: ListQuery): Promise<Instance[]> {
    return await this.#guarded(async () => {
      let doubtful = "";
      const read = async () => {
        const answer = await this.#list(this.pool, query);
        doubtful ||= answer.doubtful[0]?.id ?? "";
        return answer;
      };
      const listed = await settledListing(
        read,
        read,
        () => this.#confirmWrites(query.env, doubtful),
      );
      return listed.instances;
    });
  }

  /**
   * The live instances, and those that lapsed with no beat of the env
   * landing after them, or that an outage graced: a crash, or beats held
   * back by a lock or a freeze (see #confirmWrites).
   */
  async #list(
    db: Queryable,
    query: ListQuery,
  ): Promise<ListingRead> {
    const services = query.services?.length ? [...query.services] : null;
    const found = await rows(
      db,
      `with n as (select ${NOW_MS} as now),
         f as (select coalesce(max(heartbeat_at), 0) as freshest
               from ${this.#t.instances} where env = $1)
       select i.*, i.expires_at <= n.now as lapsed
       from ${this.#t.instances} i, n, f
       where i.env = $1
         and ($2::text[] is null or i.service = any($2::text[]))
         and (i.expires_at > n.now or (i.expires_at > n.now - ${DOUBT_WINDOW_MS}
           and ((i.grace_until = 0 and i.expires_at > f.freshest)
             or i.grace_until > n.now)))
       order by i.seq`,
      [query.env, services],
    );
    const instances: Instance[] = [];
    const doubtful: DoubtfulLapse[] = [];
    for (const row of found) {
      const instance = instanceOfRow(row, query.env);
      if (row.lapsed) {
        doubtful.push({
          id: instance.id,
          heartbeatInterval: instance.heartbeatInterval || Number(row.ttl) / 3,
        });
      } else instances.push(instance);
    }
    return { instances, doubtful };
  }

  /**
   * A listing that found a lapse no beat came after writes to that row
   * (changing nothing) before it answers: where a lock holds the beats
   * back, the write waits too, and the listing fails rather than answer
   * short. After a crash it lands at once.
   *
   * @returns How long the write took to land, in ms.
   */
  async #confirmWrites(env: string, id: string): Promise<number> {
    const sent = performance.now();
    try {
      await this.#transaction(async (db) => {
        await db.query(`set local lock_timeout = ${PROBE_LOCK_TIMEOUT_MS}`);
        await db.query(
          `update ${this.#t.instances} set heartbeat_at = heartbeat_at
           where env = $1 and id = $2`,
          [env, id],
        );
      });
    } catch (error) {
      throw new Error(
        `Cannot list env '${env}': instances lapsed with no heartbeat reaching PostgreSQL since, and a test write did not land (${
          (error as Error)?.message ?? error
        }); writes may be stalled (a lock, a freeze), so the answer would be short`,
        { cause: error },
      );
    }
    return performance.now() - sent;
  }

  /**
   * Lists the services with live instances.
   *
   * @param env The env.
   * @returns Sorted names.
   */
  async services(env: string): Promise<string[]> {
    return await this.#guarded(async () => {
      const found = await rows(
        this.pool,
        `select distinct service from ${this.#t.instances}
         where env = $1 and expires_at > ${NOW_MS} order by service`,
        [env],
      );
      return found.map((row) => String(row.service));
    });
  }

  /**
   * Lists the envs with live instances.
   *
   * @returns Sorted names.
   */
  async envs(): Promise<string[]> {
    return await this.#guarded(async () => {
      const found = await rows(
        this.pool,
        `select distinct env from ${this.#t.instances}
         where expires_at > ${NOW_MS} order by env`,
        [],
      );
      return found.map((row) => String(row.env));
    });
  }

  /**
   * Removes expired entries and records their leaves, if no other process
   * purges the env right now (an advisory lock). Entries that expired while
   * the database itself was down are held (never listed) until its restart
   * plus their ttl, so the living can beat again before anyone is evicted.
   *
   * @param env The env.
   * @returns When the next entry falls due, in ms from now.
   */
  async purge(env: string): Promise<number | undefined> {
    const sent = this.#dbNow();
    return await this.#guarded(async () => {
      return await this.#transaction(async (db) => {
        const [lock] = await rows(
          db,
          "select pg_try_advisory_xact_lock(hashtext($1)) as ok",
          [`${this.schema}/${env}`],
        );
        if (!lock?.ok) return undefined;
        if (this.#outage) {
          // This process could not reach the database a while: neither
          // could the owners, whose beats, which report theirs, come first.
          await this.#reportOutage(env);
          this.#settleUntil = performance.now() + PURGE_SETTLE_MS;
        }
        const evidence = await this.#outageEvidence(db, env);
        const { now, freshest, outFrom, outTo } = evidence;
        if (sent !== null && now - sent >= PURGE_STALL_MS) {
          // This purge itself waited out a freeze or a lock: the owners'
          // beats, held the same way, land a moment after it.
          this.#settleFrom = sent;
          this.#settleUntil = performance.now() + PURGE_SETTLE_MS;
        }
        const settling = performance.now() < this.#settleUntil;
        // While settling, only lapses well before the outage began go.
        const heldFrom = Math.min(
          outFrom || Infinity,
          this.#settleFrom || Infinity,
        );
        this.#learnClock(now);
        await this.#grace(db, env, evidence);
        // A lapse no beat came after may be a freeze or a lock that ended a
        // moment ago, the owners' beats still on their way: it waits for
        // one, or for a ttl and a half-ttl (at most 500 ms) from the
        // freshest beat or the reported outage's end, so a whole env that
        // crashed still goes within a second of its lapse.
        const gone = await rows(
          db,
          `delete from ${this.#t.instances}
           where (env, id) in (
             select env, id from ${this.#t.instances}
             where env = $1 and expires_at <= $2 and grace_until <= $2
               and (grace_until > 0
                 or ($5::boolean and expires_at <= $6::int8 - ttl / 2)
                 or (not $5::boolean and (expires_at <= $3::int8
                   or $2 > greatest($3::int8, $4::int8) + ttl + least(ttl / 2, 500))))
             order by seq limit ${PURGE_BATCH} for update skip locked)
           returning *`,
          [
            env,
            now,
            freshest,
            outTo,
            settling,
            Number.isFinite(heldFrom) ? heldFrom : 0,
          ],
        );
        await this.#recordExpired(db, env, gone);
        const [next] = await rows(
          db,
          `select min(greatest(expires_at, grace_until)) as due
           from ${this.#t.instances} where env = $1`,
          [env],
        );
        if (next?.due == null) return undefined;
        // Due already: a lapse held back until its owner's beat may land.
        const wait = Number(next.due) - now;
        return wait > 0 ? wait + 1 : DEFERRED_PURGE_RETRY_MS;
      });
    });
  }

  /**
   * Graces the lapses an outage explains, until a ttl after it: those that
   * fell due after the server's last start and the env's last beat before
   * it, and those inside a window clients reported.
   */
  async #grace(
    db: Queryable,
    env: string,
    { now, started, lastBeat, outFrom, outTo }: OutageEvidence,
  ): Promise<void> {
    await db.query(
      `update ${this.#t.instances} set grace_until = $3::int8 + ttl
       where env = $1 and expires_at <= $2::int8 and grace_until = 0
         and $3::int8 + ttl > $2::int8 and expires_at > $4::int8`,
      [env, now, started, lastBeat],
    );
    // Fell due inside a window clients reported: a ttl after its end.
    await db.query(
      `update ${this.#t.instances} set grace_until = $4::int8 + ttl
       where env = $1 and expires_at <= $2::int8 and grace_until = 0
         and expires_at between $3::int8 and $4::int8
         and $4::int8 + ttl > $2::int8`,
      [env, now, outFrom, outTo],
    );
  }

  /** Records the purged rows as expired leaves, in seq order. */
  async #recordExpired(db: Queryable, env: string, gone: Row[]): Promise<void> {
    if (!gone.length) return;
    await this.#lockEnv(db, env);
    gone.sort((a, b) => Number(a.seq) - Number(b.seq));
    for (const row of gone) {
      await this.#record(db, env, "leave", "expired", instanceOfRow(row, env));
    }
  }

  /**
   * The live instances and the change-log position, read in one snapshot.
   *
   * @param env The env.
   * @returns The instances and the cursor.
   */
  async snapshot(env: string): Promise<Snapshot> {
    return await this.#guarded(async () => {
      await this.#ensureEnv(this.pool, env);
      return await this.#transaction(async (db) => {
        const [row] = await rows(
          db,
          `select epoch, log_pos from ${this.#t.envs} where env = $1`,
          [env],
        );
        const { instances } = await this.#list(db, { env });
        return { instances, cursor: `${row!.epoch}:${row!.log_pos}` };
      }, "begin isolation level repeatable read read only");
    });
  }

  /**
   * Reads the changes after `cursor`, waiting up to `waitMs` for the first;
   * a notification wakes the wait, and the wait ends anyway, so a missed
   * notification only delays a read.
   *
   * @param env The env.
   * @param cursor From `snapshot` or an earlier `changes`.
   * @param options The wait, and a signal that ends it.
   * @returns The changes and the next cursor.
   * @throws {ChangeLogGapError} When the changes after `cursor` are gone.
   */
  async changes(
    env: string,
    cursor: string,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<ChangeBatch> {
    return await this.#guarded(async () => {
      const [epoch, positionText] = cursor.split(":");
      const position = Number(positionText);
      if (!epoch || !Number.isInteger(position) || position < 0) {
        throw new ChangeLogGapError(env, cursor);
      }
      // LISTEN first: a change committed after the read below then wakes us.
      if (options.waitMs > 0) await this.#listen();
      let waited = false;
      for (;;) {
        const wake = waited || options.waitMs <= 0
          ? undefined
          : this.#waitForChange(env, options.waitMs, options.signal);
        const batch = await this.#read(env, cursor, epoch, position).catch(
          (error) => {
            wake?.cancel();
            throw error;
          },
        );
        if (batch.changes.length || !wake) {
          wake?.cancel();
          return batch;
        }
        await wake.done;
        waited = true;
      }
    });
  }

  async #read(
    env: string,
    cursor: string,
    epoch: string,
    position: number,
  ): Promise<ChangeBatch> {
    const [head] = await rows(
      this.pool,
      `select epoch, log_pos,
         (select min(pos) from ${this.#t.changes} where env = $1) as first
       from ${this.#t.envs} where env = $1`,
      [env],
    );
    if (!head || head.epoch !== epoch) {
      throw new ChangeLogGapError(env, cursor, { dataLost: true });
    }
    const end = Number(head.log_pos);
    const first = head.first == null ? end + 1 : Number(head.first);
    if (position > end || (position < end && position + 1 < first)) {
      throw new ChangeLogGapError(env, cursor);
    }
    if (position === end) return { changes: [], cursor };
    const found = await rows(
      this.pool,
      `select pos, type, reason, instance from ${this.#t.changes}
       where env = $1 and pos > $2 order by pos limit ${READ_BATCH}`,
      [env, position],
    );
    const last = found.at(-1);
    return {
      changes: found.map((row) => ({
        type: row.type as Change["type"],
        reason: row.reason as ChangeReason,
        instance: row.instance as Instance,
      })),
      cursor: `${epoch}:${last ? Number(last.pos) : position}`,
    };
  }

  /**
   * Keeps one connection that LISTENs for changes and messages, opened on
   * first need and again after it drops. Failing, readers only poll.
   */
  async #listen(): Promise<void> {
    if (this.#closed) return;
    this.#listening ??= (async () => {
      const client = new pg.Client({ ...this.#clientConfig() });
      client.on("error", () => {});
      client.on("notification", ({ channel, payload = "" }) => {
        if (channel === this.#changesChannel) {
          for (const wake of [...this.#waiters.get(payload) ?? []]) wake();
        } else this.#deliver(payload);
      });
      client.on("end", () => {
        if (this.#listener !== client) return;
        this.#listener = undefined;
        this.#listening = undefined;
        // Wake every reader: what was notified meanwhile is read now.
        for (const waiters of this.#waiters.values()) {
          for (const wake of [...waiters]) wake();
        }
        if (!this.#closed && this.#handlers.size) {
          this.#relisten = setTimeout(() => void this.#listen(), 250);
        }
      });
      await client.connect();
      await client.query(`listen "${this.#changesChannel}"`);
      await client.query(`listen "${this.#messagesChannel}"`);
      this.#listener = client;
    })().catch((error) => {
      this.#listening = undefined;
      log.debug("Cannot LISTEN, polling instead: {error}", {
        error: (error as Error)?.message,
      });
      if (!this.#closed && this.#handlers.size) {
        this.#relisten = setTimeout(() => void this.#listen(), MAX_RELISTEN_MS);
      }
    });
    await this.#listening;
  }

  #clientConfig(): pg.ClientConfig {
    const options = (this.pool as unknown as { options: pg.PoolConfig })
      .options;
    return {
      connectionString: options.connectionString,
      host: options.host,
      port: options.port,
      user: options.user,
      password: options.password,
      database: options.database,
      ssl: options.ssl,
      connectionTimeoutMillis: options.connectionTimeoutMillis,
    };
  }

  #waitForChange(
    env: string,
    waitMs: number,
    signal?: AbortSignal,
  ): { done: Promise<void>; cancel(): void } {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => finish = resolve);
    const timer = setTimeout(() => end(), waitMs);
    let waiters = this.#waiters.get(env);
    if (!waiters) this.#waiters.set(env, waiters = new Set());
    const end = () => {
      clearTimeout(timer);
      waiters.delete(end);
      if (waiters.size === 0) this.#waiters.delete(env);
      signal?.removeEventListener("abort", end);
      finish();
    };
    waiters.add(end);
    signal?.addEventListener("abort", end, { once: true });
    if (signal?.aborted || this.#closed) end();
    return { done, cancel: end };
  }

  #deliver(text: string): void {
    try {
      const [env, channel, payload] = JSON.parse(text) as [
        string,
        string,
        string,
      ];
      for (
        const handler of this.#handlers.get(JSON.stringify([env, channel])) ??
          []
      ) {
        handler(payload);
      }
    } catch (error) {
      log.warn("Skipping a message that is not roster's: {error}", {
        error: (error as Error).message,
      });
    }
  }

  /**
   * Sends a message to the env's subscribers of `channel`, over `NOTIFY`.
   *
   * @param env The env.
   * @param channel The channel.
   * @param payload The message.
   * @returns 1 when sent; PostgreSQL does not say how many listen.
   * @throws {MessageTooLargeError} Over NOTIFY's 8,000-byte limit.
   */
  async publish(
    env: string,
    channel: string,
    payload: string,
  ): Promise<number> {
    const text = JSON.stringify([env, channel, payload]);
    const size = Buffer.byteLength(text);
    if (size > MAX_NOTIFY_BYTES) {
      throw new MessageTooLargeError(size, MAX_NOTIFY_BYTES);
    }
    await this.pool.query("select pg_notify($1, $2)", [
      this.#messagesChannel,
      text,
    ]);
    return 1;
  }

  /**
   * Receives the env's messages on `channel`.
   *
   * @param env The env.
   * @param channel The channel.
   * @param handler Called with each payload.
   * @returns A function that unsubscribes.
   */
  async subscribe(
    env: string,
    channel: string,
    handler: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    const key = JSON.stringify([env, channel]);
    let handlers = this.#handlers.get(key);
    if (!handlers) this.#handlers.set(key, handlers = new Set());
    const wrapped = (payload: string) => handler(payload);
    handlers.add(wrapped);
    await this.#listen();
    return () => {
      handlers.delete(wrapped);
      if (handlers.size === 0) this.#handlers.delete(key);
      return Promise.resolve();
    };
  }

  /**
   * Grants leadership of its service to `registration`, if it is the
   * oldest live, healthy instance and no other leader's lease still runs.
   *
   * @param registration The registration that asks to lead.
   * @returns The term, or undefined.
   */
  async campaign(registration: Registration): Promise<number | undefined> {
    return await this.#guarded(async () => {
      const { env, service, id } = registration;
      return await this.#transaction(async (db) => {
        await db.query(
          `insert into ${this.#t.leaders} (env, service, term)
           values ($1, $2, 0) on conflict do nothing`,
          [env, service],
        );
        const [leader] = await rows(
          db,
          `select term, id, seq from ${this.#t.leaders}
           where env = $1 and service = $2 for update`,
          [env, service],
        );
        const [clock] = await rows(db, `select ${NOW_MS} as now`);
        const now = Number(clock!.now);
        const [self] = await rows(
          db,
          `select seq, status, owner from ${this.#t.instances}
           where env = $1 and id = $2 and expires_at > $3`,
          [env, id, now],
        );
        if (
          !self || self.owner !== ownerDigest(registration.owner) ||
          !takesWork({ status: parseInstanceStatus(self.status) })
        ) return undefined;
        const [older] = await rows(
          db,
          `select 1 from ${this.#t.instances}
           where env = $1 and service = $2 and status in ('healthy', 'warning')
             and expires_at > $3 and seq < $4 limit 1`,
          [env, service, now, self.seq],
        );
        if (older) return undefined;
        if (leader!.id != null && leader!.id !== id) {
          const [holder] = await rows(
            db,
            `select 1 from ${this.#t.instances}
             where env = $1 and id = $2 and seq = $3
               and status in ('healthy', 'warning')
               and expires_at > $4`,
            [env, leader!.id, leader!.seq, now],
          );
          if (holder) return undefined;
        }
        const term = Math.max(Number(leader!.term) + 1, now * 1000);
        await db.query(
          `update ${this.#t.leaders} set term = $3, id = $4, seq = $5
           where env = $1 and service = $2`,
          [env, service, term, id, self.seq],
        );
        return term;
      });
    });
  }

  /**
   * Ends leadership `term`, if `registration` still holds it.
   *
   * @param registration The leader's registration.
   * @param term Its term.
   */
  async resign(registration: Registration, term: number): Promise<void> {
    return await this.#guarded(async () => {
      await this.pool.query(
        `update ${this.#t.leaders} l set id = null, seq = null
         where l.env = $1 and l.service = $2 and l.id = $3 and l.term = $4
           and not exists (
             select 1 from ${this.#t.instances} i
             where i.env = l.env and i.id = l.id and i.owner <> $5)`,
        [
          registration.env,
          registration.service,
          registration.id,
          term,
          ownerDigest(registration.owner),
        ],
      );
    });
  }

  /**
   * Describes the server and an env.
   *
   * @param env The env.
   * @returns The version, clock, entries and change-log length.
   */
  async status(env: string): Promise<BackendStatus> {
    return await this.#guarded(async () => {
      const [row] = await rows(
        this.pool,
        `select current_setting('server_version') as version, ${NOW_MS} as now,
           (select count(*) from ${this.#t.instances} where env = $1) as entries,
           (select count(*) from ${this.#t.changes} where env = $1) as changes,
           inet_server_addr()::text as host, inet_server_port() as port`,
        [env],
      );
      return {
        server: `postgresql ${row!.version}`,
        target: row!.host
          ? `${String(row!.host).replace(/\/\d+$/, "")}:${row!.port}`
          : "a local socket",
        time: Number(row!.now),
        entries: Number(row!.entries),
        changeLogLength: Number(row!.changes),
      };
    });
  }

  /** Stops listening, and ends the pool if the driver opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#relisten);
    for (const waiters of this.#waiters.values()) {
      for (const wake of [...waiters]) wake();
    }
    await this.#listening?.catch(() => {});
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => {});
    if (this.#owned) await this.pool.end();
  }
}

// The contract's types this module's API names, so its documentation is
// complete on its own.
export type * from "../../contract/contract_types.ts";
