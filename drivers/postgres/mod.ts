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
  ChangeBatch,
  Driver,
  HeartbeatResult,
  ListQuery,
  Registration,
  RegistrationKey,
  Snapshot,
} from "../../contract/driver.ts";
import { AlreadyRegisteredError, ConfigError } from "../../errors.ts";
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
import { ChangeLog } from "./_change_log.ts";
import { NotificationListener } from "./_notification_listener.ts";
import { SCHEMA_NAME, type Tables, tablesOf } from "./_schema.ts";
import { SchemaMigration } from "./_schema_migration.ts";
import {
  type Beat,
  graceExplainedLapses,
  lapseExplained,
  OutageWitness,
  readOutageEvidence,
  STALL_SQL,
  stallOf,
} from "./_outage_evidence.ts";
import { transaction } from "./_transaction.ts";

const log = getLogger(["roster", "postgres"]);

/** NOTIFY's payload limit, less one byte. */
export const MAX_NOTIFY_BYTES = 7_999;
/** The most entries one purge removes. */
const PURGE_BATCH = 500;
/** PostgreSQL's codes for a missing table and a missing schema. */
const UNDEFINED_TABLE = "42P01";
const INVALID_SCHEMA = "3F000";
/**
 * How long a purge that saw an outage of its own holds back lapses no beat
 * came after, in ms: time for the owners' held beats to land.
 */
const PURGE_SETTLE_MS = 250;
/** A purge that reached the database this much later than sent waited out an outage itself. */
const PURGE_STALL_MS = 100;
/** How long a listing's test write waits for a lock, in ms. */
const PROBE_LOCK_TIMEOUT_MS = 250;
/** How soon a purge that deferred a lapse asks again, in ms. */
const DEFERRED_PURGE_RETRY_MS = 50;
/**
 * How far back a listing looks for entries that lapsed with no beat after
 * them (see #list), in ms: the longest ttl.
 */
const DOUBT_WINDOW_MS = 3_600_000;

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
  readonly #t: Tables;
  readonly #messagesChannel: string;
  readonly #migration: SchemaMigration;
  readonly #changeLog: ChangeLog;
  readonly #notifications: NotificationListener;
  readonly #witness: OutageWitness;
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
    this.#t = tablesOf(schema);
    const channels = {
      changes: `${schema}_changes`,
      messages: `${schema}_messages`,
    };
    this.#messagesChannel = channels.messages;
    this.#migration = new SchemaMigration(pool, schema, this.#t);
    this.#changeLog = new ChangeLog(this.#t, channels.changes);
    this.#notifications = new NotificationListener(pool, channels);
    this.#witness = new OutageWitness(pool, this.#t);
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
      await driver.#migration.ready();
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

  /**
   * Runs a public call; a table or the schema found missing (dropped by
   * hand, restored without it) is put back by the next call.
   */
  async #guarded<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      await this.#migration.ready();
      const result = await work();
      this.#witness.succeeded();
      return result;
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      if (code === UNDEFINED_TABLE || code === INVALID_SCHEMA) {
        this.#migration.lost();
      }
      this.#witness.failed(started, error);
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
      const own = this.#witness.ownOutageStart();
      if (this.#witness.inOutage) await this.#witness.report(env);
      const sent = this.#witness.dbNow();
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
        this.#witness.learnClock(landed);
        if (sent !== null && landed - sent >= stallOf(registration.ttl)) {
          // This beat waited out a freeze or a lock itself: others' leases
          // may have run out meanwhile, their beats held the same way.
          await this.#witness.reportWindow(env, sent, landed);
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
      const result = await transaction(this.pool, async (db) => {
        // The env row's lock orders the env's changes: positions commit in order.
        await this.#lockEnv(db, env);
        const [clock] = await rows(db, `select ${NOW_MS} as now`);
        const now = Number(clock!.now);
        this.#witness.learnClock(now);
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
            await lapseExplained(db, this.#t, env, {
              expires: lease.expiresAt,
              ttl: lease.ttl,
              now,
            }, beat));
        const instance = await this.#insert(
          db,
          registration,
          now,
          restored ? lease : undefined,
        );
        await this.#changeLog.record(db, env, {
          type: "join",
          reason: restored ? "reregistered" : reason,
          instance,
        });
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
        await lapseExplained(db, this.#t, env, {
          expires: Number(row.expires_at),
          ttl: Number(row.ttl),
          now,
        }, beat));
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
        await this.#changeLog.record(db, env, {
          type: "update",
          reason: "health",
          instance,
        });
      }
      return { instance, reregistered: false };
    }
    if (live) throw new AlreadyRegisteredError(id, env);
    await db.query(
      `delete from ${this.#t.instances} where env = $1 and id = $2`,
      [env, id],
    );
    await this.#changeLog.record(db, env, {
      type: "leave",
      reason: "expired",
      instance: instanceOfRow(row, env),
    });
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
   * Removes a registration if `key.owner` holds it.
   *
   * @param key The registration and its owner.
   * @returns Whether an entry was removed.
   */
  async deregister(key: RegistrationKey): Promise<boolean> {
    this.#leases.delete(key as Registration);
    return await this.#guarded(async () => {
      return await transaction(this.pool, async (db) => {
        await this.#lockEnv(db, key.env);
        const [row] = await rows(
          db,
          `delete from ${this.#t.instances}
           where env = $1 and id = $2 and owner = $3 returning *`,
          [key.env, key.id, ownerDigest(key.owner)],
        );
        if (!row) return false;
        await this.#changeLog.record(db, key.env, {
          type: "leave",
          reason: "deregistered",
          instance: instanceOfRow(row, key.env),
        });
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
      await transaction(this.pool, async (db) => {
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
    const sent = this.#witness.dbNow();
    return await this.#guarded(async () => {
      return await transaction(this.pool, async (db) => {
        const [lock] = await rows(
          db,
          "select pg_try_advisory_xact_lock(hashtext($1)) as ok",
          [`${this.schema}/${env}`],
        );
        if (!lock?.ok) return undefined;
        if (this.#witness.inOutage) {
          // This process could not reach the database a while: neither
          // could the owners, whose beats, which report theirs, come first.
          await this.#witness.report(env);
          this.#settleUntil = performance.now() + PURGE_SETTLE_MS;
        }
        const evidence = await readOutageEvidence(db, this.#t, env);
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
        this.#witness.learnClock(now);
        await graceExplainedLapses(db, this.#t, env, evidence);
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

  /** Records the purged rows as expired leaves, in seq order. */
  async #recordExpired(db: Queryable, env: string, gone: Row[]): Promise<void> {
    if (!gone.length) return;
    await this.#lockEnv(db, env);
    gone.sort((a, b) => Number(a.seq) - Number(b.seq));
    for (const row of gone) {
      await this.#changeLog.record(db, env, {
        type: "leave",
        reason: "expired",
        instance: instanceOfRow(row, env),
      });
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
      return await transaction(this.pool, async (db) => {
        const [row] = await rows(
          db,
          `select epoch, log_pos from ${this.#t.envs} where env = $1`,
          [env],
        );
        const { instances } = await this.#list(db, { env });
        return { instances, cursor: `${row!.epoch}:${row!.log_pos}` };
      }, { begin: "begin isolation level repeatable read read only" });
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
      const from = this.#changeLog.parseCursor(env, cursor);
      // LISTEN first: a change committed after the read below then wakes us.
      if (options.waitMs > 0) await this.#notifications.listen();
      let waited = false;
      for (;;) {
        const wake = waited || options.waitMs <= 0
          ? undefined
          : this.#notifications.waitForChange(
            env,
            options.waitMs,
            options.signal,
          );
        const batch = await this.#changeLog.read(this.pool, env, from).catch(
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
    return await this.#notifications.subscribe(env, channel, handler);
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
      return await transaction(this.pool, async (db) => {
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
    await this.#notifications.close();
    if (this.#owned) await this.pool.end();
  }
}

// The contract's types this module's API names, so its documentation is
// complete on its own.
export type * from "../../contract/contract_types.ts";
