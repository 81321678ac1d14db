/**
 * The PostgreSQL driver, on postgres.js (`npm:postgres`): expiry by the
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
 * The tables (see `_schema.ts`) are created on first use under `schema`
 * (default `roster`); the role needs `CREATE` on the database the first
 * time, then `SELECT`, `INSERT`, `UPDATE`, `DELETE` on them. It works
 * through PgBouncer in session mode; transaction mode breaks `LISTEN`, so
 * watchers fall back to polling every wait, and messages are not delivered.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import postgres from "postgres";
import { logger } from "../../_logger.ts";
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
} from "../../driver/driver.ts";
import {
  AlreadyRegisteredError,
  ChangeLogGapError,
  ConfigError,
} from "../../errors.ts";
import type { Instance } from "../../instance.ts";
import { MessageTooLargeError } from "../../messaging/message.ts";
import { SCHEMA_NAME, schemaStatements } from "./_schema.ts";

const log = logger("postgres");

/** NOTIFY's payload limit, less one byte. */
export const MAX_NOTIFY_BYTES = 7_999;
/** How many changes each env's log keeps. */
const LOG_LENGTH = 10_000;
/** The most entries one purge removes. */
const PURGE_BATCH = 500;
/** The most changes one read returns. */
const READ_BATCH = 1_000;

/** A postgres.js client. */
export type PostgresClient = postgres.Sql;

/** Options for {@linkcode PostgresDriver}. */
export interface PostgresDriverOptions {
  /** The schema the tables live in. Default `roster`. */
  schema?: string;
}

/** Options for {@linkcode PostgresDriver.connect}. */
export interface PostgresConnectOptions extends PostgresDriverOptions {
  /** A connection URL, such as `postgres://user:secret@host:5432/db`. */
  url?: string;
  /** The most connections to open. Default 4. */
  max?: number;
  /** How long a connection attempt may take, in ms. Default 5,000. */
  connectTimeout?: number;
}

type Row = Record<string, unknown>;

/** The database's clock in ms, as SQL. */
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::int8";

function digest(owner: string): string {
  return createHash("sha256").update(owner).digest("hex").slice(0, 16);
}

function instanceOfRow(row: Row, env: string): Instance {
  const expiresAt = Number(row.expires_at);
  return {
    id: String(row.id),
    service: String(row.service),
    env,
    version: String(row.version),
    addr: String(row.addr),
    meta: (row.meta ?? {}) as Record<string, string>,
    hostname: String(row.hostname),
    pid: Number(row.pid),
    status: row.status === "unhealthy" ? "unhealthy" : "healthy",
    seq: Number(row.seq),
    registeredAt: Number(row.registered_at),
    heartbeatAt: Number(row.heartbeat_at),
    expiresAt,
    heartbeatInterval: Number(row.heartbeat_interval),
  };
}

/** Masks the password in a connection URL. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
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
  /** The client this driver queries through. */
  readonly sql: PostgresClient;
  /** The schema its tables live in. */
  readonly schema: string;
  #owned = false;
  readonly #t: {
    envs: postgres.Helper<string>;
    instances: postgres.Helper<string>;
    changes: postgres.Helper<string>;
    leaders: postgres.Helper<string>;
  };
  readonly #changesChannel: string;
  readonly #messagesChannel: string;
  #ready: Promise<void> | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();
  #changeListener: Promise<postgres.ListenMeta> | undefined;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  #messageListener: Promise<postgres.ListenMeta> | undefined;
  #closed = false;

  /**
   * Wraps a postgres.js client you already have; closing the driver leaves
   * it open.
   *
   * @param sql A postgres.js client.
   * @param options The schema.
   * @throws {ConfigError} For a schema name that is not lower-case letters,
   *   digits and `_`.
   */
  constructor(sql: PostgresClient, options: PostgresDriverOptions = {}) {
    const schema = options.schema ?? "roster";
    if (!SCHEMA_NAME.test(schema)) {
      throw new ConfigError(
        `Invalid 'schema': '${schema}' must be 1 to 41 lower-case letters, digits or '_', starting with a letter or '_'`,
        { field: "schema" },
      );
    }
    this.sql = sql;
    this.schema = schema;
    this.#t = {
      envs: sql(`${schema}.envs`),
      instances: sql(`${schema}.instances`),
      changes: sql(`${schema}.changes`),
      leaders: sql(`${schema}.leaders`),
    };
    this.#changesChannel = `${schema}_changes`;
    this.#messagesChannel = `${schema}_messages`;
  }

  /**
   * Connects a client of the driver's own, which `close()` ends, and makes
   * sure the schema exists.
   *
   * @param options The URL and the schema.
   * @returns The driver, connected.
   * @throws {Error} When the database cannot be reached, in one line
   *   without the password.
   */
  static async connect(
    options: PostgresConnectOptions = {},
  ): Promise<PostgresDriver> {
    const url = options.url ?? "postgres://localhost:5432/postgres";
    const sql = postgres(url, {
      max: options.max ?? 4,
      connect_timeout: Math.ceil((options.connectTimeout ?? 5_000) / 1000),
      onnotice: () => {},
    });
    const driver = new PostgresDriver(sql, options);
    driver.#owned = true;
    try {
      await driver.#schemaReady();
    } catch (error) {
      await sql.end({ timeout: 1 }).catch(() => {});
      throw new Error(
        `Cannot connect to PostgreSQL at ${redactUrl(url)}: ${
          (error as Error)?.message ?? error
        }`,
        { cause: error },
      );
    }
    return driver;
  }

  #schemaReady(): Promise<void> {
    this.#ready ??= this.sql.begin(async (tx) => {
      // Many processes may start at once; one creates, the others wait.
      await tx`select pg_advisory_xact_lock(hashtext(${this.schema}))`;
      for (const statement of schemaStatements(this.schema)) {
        await tx.unsafe(statement);
      }
    }).then(() => {}, (error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** The env's row, created when missing (first use, or lost by hand). */
  async #ensureEnv(tx: postgres.TransactionSql, env: string): Promise<Row> {
    await tx`
      insert into ${this.#t.envs} (env, epoch, seq)
      values (${env}, ${crypto.randomUUID().slice(0, 8)}, ${tx.unsafe(NOW_MS)})
      on conflict (env) do nothing`;
    const [row] = await tx`
      select epoch, seq, log_pos from ${this.#t.envs} where env = ${env} for update`;
    return row as Row;
  }

  async #record(
    tx: postgres.TransactionSql,
    env: string,
    type: Change["type"],
    reason: ChangeReason,
    instance: Instance,
  ): Promise<void> {
    await tx`
      with p as (
        update ${this.#t.envs} set log_pos = log_pos + 1 where env = ${env}
        returning log_pos
      )
      insert into ${this.#t.changes} (env, pos, type, reason, instance)
      select ${env}, log_pos, ${type}, ${reason}, ${
      tx.json(instance as never)
    } from p`;
    // Delivered at commit; readers only use it to wake up.
    await tx`select pg_notify(${this.#changesChannel}, ${env})`;
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
    await this.#schemaReady();
    const { env, id, owner, status } = registration;
    const [row] = await this.sql`
      update ${this.#t.instances} set
        heartbeat_at = n.now, expires_at = n.now + ttl, grace_until = 0
      from (select ${this.sql.unsafe(NOW_MS)} as now) n
      where env = ${env} and id = ${id} and owner = ${digest(owner)}
        and status = ${status} and expires_at > n.now
      returning seq, registered_at, heartbeat_at, expires_at`;
    if (row) {
      return {
        instance: {
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
        },
        reregistered: false,
      };
    }
    return await this.#upsert(registration, "reregistered");
  }

  async #upsert(
    registration: Registration,
    reason: "registered" | "reregistered",
  ): Promise<HeartbeatResult> {
    await this.#schemaReady();
    const { env, id } = registration;
    const owner = digest(registration.owner);
    return await this.sql.begin(async (tx) => {
      // The env row's lock orders the env's changes: positions commit in order.
      await this.#ensureEnv(tx, env);
      const [clock] = await tx`select ${tx.unsafe(NOW_MS)} as now`;
      const now = Number(clock!.now);
      const [row] = await tx`
        select * from ${this.#t.instances}
        where env = ${env} and id = ${id} for update`;
      if (row) {
        const live = Number(row.expires_at) > now;
        const graced = Number(row.grace_until) > now;
        if (row.owner === owner && (live || graced)) {
          // Live, or held through an outage the database went through:
          // the same registration goes on, under its seq.
          const [updated] = await tx`
            update ${this.#t.instances} set
              heartbeat_at = ${now}::int8, expires_at = ${now}::int8 + ttl,
              grace_until = 0, status = ${registration.status}
            where env = ${env} and id = ${id} returning *`;
          const instance = instanceOfRow(updated!, env);
          if (row.status !== registration.status) {
            await this.#record(tx, env, "update", "health", instance);
          }
          return { instance, reregistered: false };
        }
        if (live) throw new AlreadyRegisteredError(id, env);
        await tx`delete from ${this.#t.instances} where env = ${env} and id = ${id}`;
        await this.#record(
          tx,
          env,
          "leave",
          "expired",
          instanceOfRow(row, env),
        );
      }
      const [counter] = await tx`
        update ${this.#t.envs} set seq = seq + 1 where env = ${env} returning seq`;
      const [created] = await tx`
        insert into ${this.#t.instances} ${
        tx({
          env,
          id,
          service: registration.service,
          owner,
          // As text: postgres.js would send a large number as int4.
          seq: String(counter!.seq),
          registered_at: String(now),
          heartbeat_at: String(now),
          expires_at: String(now + registration.ttl),
          ttl: registration.ttl,
          heartbeat_interval: registration.heartbeatInterval,
          status: registration.status,
          version: registration.version,
          addr: registration.addr,
          hostname: registration.hostname,
          pid: registration.pid,
          meta: tx.json(registration.meta as never),
        } as never)
      } returning *`;
      const instance = instanceOfRow(created!, env);
      await this.#record(tx, env, "join", reason, instance);
      return { instance, reregistered: reason === "reregistered" };
    }) as HeartbeatResult;
  }

  /**
   * Removes a registration if `key.owner` holds it.
   *
   * @param key The registration and its owner.
   * @returns Whether an entry was removed.
   */
  async deregister(key: RegistrationKey): Promise<boolean> {
    await this.#schemaReady();
    return await this.sql.begin(async (tx) => {
      await this.#ensureEnv(tx, key.env);
      const [row] = await tx`
        delete from ${this.#t.instances}
        where env = ${key.env} and id = ${key.id} and owner = ${
        digest(key.owner)
      }
        returning *`;
      if (!row) return false;
      await this.#record(
        tx,
        key.env,
        "leave",
        "deregistered",
        instanceOfRow(row, key.env),
      );
      return true;
    }) as boolean;
  }

  /**
   * Lists live instances, oldest first: those whose expiry is ahead of the
   * database's clock, purged or not.
   *
   * @param query The env and services.
   * @returns The live instances.
   */
  async list(query: ListQuery): Promise<Instance[]> {
    await this.#schemaReady();
    return await this.#list(this.sql, query);
  }

  async #list(
    sql: postgres.Sql | postgres.TransactionSql,
    query: ListQuery,
  ): Promise<Instance[]> {
    const services = query.services?.length ? [...query.services] : null;
    const rows = await sql`
      select * from ${this.#t.instances}
      where env = ${query.env} and expires_at > ${sql.unsafe(NOW_MS)}
        ${services ? sql`and service = any(${services})` : sql``}
      order by seq`;
    return rows.map((row) => instanceOfRow(row, query.env));
  }

  /**
   * Lists the services with live instances.
   *
   * @param env The env.
   * @returns Sorted names.
   */
  async services(env: string): Promise<string[]> {
    await this.#schemaReady();
    const rows = await this.sql`
      select distinct service from ${this.#t.instances}
      where env = ${env} and expires_at > ${this.sql.unsafe(NOW_MS)}
      order by service`;
    return rows.map((row) => String(row.service));
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
    await this.#schemaReady();
    return await this.sql.begin(async (tx) => {
      const [lock] = await tx`
        select pg_try_advisory_xact_lock(hashtext(${`${this.schema}/${env}`})) as ok`;
      if (!lock?.ok) return undefined;
      const [facts] = await tx`
        select ${tx.unsafe(NOW_MS)} as now,
          (extract(epoch from pg_postmaster_start_time()) * 1000)::int8 as started`;
      const now = Number(facts!.now);
      const started = Number(facts!.started);
      // Evidence of an outage: the server started less than a ttl ago. What
      // expired after its last accepted beat before that start fell due
      // while no one could beat.
      await tx`
        update ${this.#t.instances} set grace_until = ${started}::int8 + ttl
        where env = ${env} and expires_at <= ${now}::int8 and grace_until = 0
          and ${started}::int8 + ttl > ${now}::int8
          and expires_at > coalesce((
            select max(heartbeat_at) from ${this.#t.instances}
            where env = ${env} and heartbeat_at < ${started}::int8), 0)`;
      const gone = await tx`
        delete from ${this.#t.instances}
        where (env, id) in (
          select env, id from ${this.#t.instances}
          where env = ${env} and expires_at <= ${now}::int8 and grace_until <= ${now}::int8
          order by seq limit ${PURGE_BATCH}
          for update skip locked)
        returning *`;
      if (gone.length) {
        await this.#ensureEnv(tx, env);
        for (
          const row of [...gone].sort((a, b) => Number(a.seq) - Number(b.seq))
        ) {
          await this.#record(
            tx,
            env,
            "leave",
            "expired",
            instanceOfRow(row, env),
          );
        }
        await tx`
          delete from ${this.#t.changes}
          where env = ${env} and pos <= (
            select log_pos from ${this.#t.envs} where env = ${env}) - ${LOG_LENGTH}`;
      }
      const [next] = await tx`
        select min(greatest(expires_at, grace_until)) as due
        from ${this.#t.instances} where env = ${env}`;
      return next?.due == null
        ? undefined
        : Math.max(0, Number(next.due) - now) + 1;
    }) as number | undefined;
  }

  /**
   * The live instances and the change-log position, read in one snapshot.
   *
   * @param env The env.
   * @returns The instances and the cursor.
   */
  async snapshot(env: string): Promise<Snapshot> {
    await this.#schemaReady();
    return await this.sql.begin(
      "isolation level repeatable read",
      async (tx) => {
        await tx`
        insert into ${this.#t.envs} (env, epoch, seq)
        values (${env}, ${crypto.randomUUID().slice(0, 8)}, ${
          tx.unsafe(NOW_MS)
        } * 1000)
        on conflict (env) do nothing`;
        const [row] = await tx`
        select epoch, log_pos from ${this.#t.envs} where env = ${env}`;
        const instances = await this.#list(tx, { env });
        return { instances, cursor: `${row!.epoch}:${row!.log_pos}` };
      },
    ) as Snapshot;
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
    await this.#schemaReady();
    const [epoch, positionText] = cursor.split(":");
    const position = Number(positionText);
    if (!epoch || !Number.isInteger(position) || position < 0) {
      throw new ChangeLogGapError(env, cursor);
    }
    // LISTEN first: a change committed after the read below then wakes us.
    if (options.waitMs > 0) await this.#listenForChanges();
    let waited = false;
    for (;;) {
      const wake = waited || options.waitMs <= 0
        ? undefined
        : this.#waitForChange(env, options.waitMs, options.signal);
      const batch = await this.#read(env, cursor, epoch, position);
      if (batch.changes.length || !wake) {
        wake?.cancel();
        return batch;
      }
      await wake.done;
      waited = true;
    }
  }

  async #read(
    env: string,
    cursor: string,
    epoch: string,
    position: number,
  ): Promise<ChangeBatch> {
    const [head] = await this.sql`
      select epoch, log_pos,
        (select min(pos) from ${this.#t.changes} where env = ${env}) as first
      from ${this.#t.envs} where env = ${env}`;
    if (!head || head.epoch !== epoch) {
      throw new ChangeLogGapError(env, cursor, { dataLost: true });
    }
    const end = Number(head.log_pos);
    const first = head.first == null ? end + 1 : Number(head.first);
    if (position > end || (position < end && position + 1 < first)) {
      throw new ChangeLogGapError(env, cursor);
    }
    if (position === end) return { changes: [], cursor };
    const rows = await this.sql`
      select pos, type, reason, instance from ${this.#t.changes}
      where env = ${env} and pos > ${position}::int8
      order by pos limit ${READ_BATCH}`;
    const last = rows.at(-1);
    return {
      changes: rows.map((row) => ({
        type: row.type as Change["type"],
        reason: row.reason as ChangeReason,
        instance: row.instance as Instance,
      })),
      cursor: `${epoch}:${last ? Number(last.pos) : position}`,
    };
  }

  /** Listens for the change channel once; failing, readers only poll. */
  async #listenForChanges(): Promise<void> {
    this.#changeListener ??= this.sql.listen(
      this.#changesChannel,
      (payload) => {
        for (const wake of [...this.#waiters.get(payload) ?? []]) wake();
      },
    );
    try {
      await this.#changeListener;
    } catch (error) {
      this.#changeListener = undefined;
      log.debug("Cannot LISTEN for changes, polling instead: {error}", {
        error: (error as Error)?.message,
      });
    }
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
    if (signal?.aborted) end();
    return { done, cancel: end };
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
    await this.sql`select pg_notify(${this.#messagesChannel}, ${text})`;
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
    this.#messageListener ??= this.sql.listen(this.#messagesChannel, (text) => {
      try {
        const [e, c, payload] = JSON.parse(text) as [string, string, string];
        for (const h of this.#handlers.get(JSON.stringify([e, c])) ?? []) {
          h(payload);
        }
      } catch (error) {
        log.warn("Skipping a message that is not roster's: {error}", {
          error: (error as Error).message,
        });
      }
    });
    await this.#messageListener;
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
    await this.#schemaReady();
    const { env, service, id } = registration;
    return await this.sql.begin(async (tx) => {
      await tx`
        insert into ${this.#t.leaders} (env, service, term)
        values (${env}, ${service}, 0) on conflict do nothing`;
      const [leader] = await tx`
        select term, id, seq from ${this.#t.leaders}
        where env = ${env} and service = ${service} for update`;
      const [clock] = await tx`select ${tx.unsafe(NOW_MS)} as now`;
      const now = Number(clock!.now);
      const [self] = await tx`
        select seq, status, owner from ${this.#t.instances}
        where env = ${env} and id = ${id} and expires_at > ${now}::int8`;
      if (
        !self || self.owner !== digest(registration.owner) ||
        self.status !== "healthy"
      ) return undefined;
      const [older] = await tx`
        select 1 from ${this.#t.instances}
        where env = ${env} and service = ${service} and status = 'healthy'
          and expires_at > ${now}::int8 and seq < ${self.seq} limit 1`;
      if (older) return undefined;
      if (leader!.id != null && leader!.id !== id) {
        const [holder] = await tx`
          select 1 from ${this.#t.instances}
          where env = ${env} and id = ${leader!.id} and seq = ${leader!.seq}
            and status = 'healthy' and expires_at > ${now}::int8`;
        if (holder) return undefined;
      }
      const term = Math.max(Number(leader!.term) + 1, now * 1000);
      await tx`
        update ${this.#t.leaders} set term = ${term}::int8, id = ${id}, seq = ${self.seq}
        where env = ${env} and service = ${service}`;
      return term;
    }) as number | undefined;
  }

  /**
   * Ends leadership `term`, if `registration` still holds it.
   *
   * @param registration The leader's registration.
   * @param term Its term.
   */
  async resign(registration: Registration, term: number): Promise<void> {
    await this.#schemaReady();
    await this.sql`
      update ${this.#t.leaders} l set id = null, seq = null
      where l.env = ${registration.env} and l.service = ${registration.service}
        and l.id = ${registration.id} and l.term = ${term}::int8
        and not exists (
          select 1 from ${this.#t.instances} i
          where i.env = l.env and i.id = l.id and i.owner <> ${
      digest(registration.owner)
    })`;
  }

  /**
   * Describes the server and an env.
   *
   * @param env The env.
   * @returns The version, clock, entries and change-log length.
   */
  async status(env: string): Promise<BackendStatus> {
    await this.#schemaReady();
    const [row] = await this.sql`
      select current_setting('server_version') as version,
        ${this.sql.unsafe(NOW_MS)} as now,
        (select count(*) from ${this.#t.instances} where env = ${env}) as entries,
        (select count(*) from ${this.#t.changes} where env = ${env}) as changes`;
    const options = (this.sql as unknown as {
      options?: { host?: string[]; port?: number[] };
    }).options;
    return {
      server: `postgresql ${row!.version}`,
      target: options?.host?.[0]
        ? `${options.host[0]}:${options.port?.[0] ?? 5432}`
        : "(the client given)",
      time: Number(row!.now),
      entries: Number(row!.entries),
      changeLogLength: Number(row!.changes),
    };
  }

  /** Stops listening, and ends the client if the driver opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiters of this.#waiters.values()) {
      for (const wake of [...waiters]) wake();
    }
    const listeners = [this.#changeListener, this.#messageListener];
    for (const listener of listeners) {
      await listener?.then((meta) => meta.unlisten(), () => {}).catch(() => {});
    }
    if (this.#owned) {
      await this.sql.end({ timeout: 2 });
    }
  }
}
