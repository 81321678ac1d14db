/**
 * The PostgreSQL driver's one `LISTEN` connection: it wakes readers of an
 * env's change log and delivers messages. Opened on first need and again
 * after it drops; while it cannot be opened, readers poll and no message
 * arrives.
 *
 * @module
 */

// @ts-types="@types/pg"
import pg from "pg";
import { getLogger } from "@logtape/logtape";
import type { PostgresPool } from "./options.ts";

const log = getLogger(["roster", "postgres"]);

/** The longest wait before a dropped LISTEN connection is opened again. */
const MAX_RELISTEN_MS = 5_000;

/** A wait for an env's next change: it ends at a change, a timeout or a signal. */
export interface ChangeWait {
  /** Resolves when the wait ends. */
  done: Promise<void>;
  /** Ends the wait now. */
  cancel(): void;
}

/** The channels a schema's notifications go on. */
export interface NotificationChannels {
  /** Its payload is the env whose change log grew. */
  changes: string;
  /** Its payload is `[env, channel, message]` as JSON. */
  messages: string;
}

/** One LISTEN connection, shared by a driver's readers and subscribers. */
export class NotificationListener {
  readonly #pool: PostgresPool;
  readonly #channels: NotificationChannels;
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  #client: pg.Client | undefined;
  #listening: Promise<void> | undefined;
  #relisten: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * @param pool The pool whose connection settings the listener copies.
   * @param channels The channels to listen on.
   */
  constructor(pool: PostgresPool, channels: NotificationChannels) {
    this.#pool = pool;
    this.#channels = channels;
  }

  /**
   * Opens the connection if it is not open. Never rejects: failing, readers
   * only poll, and subscribers get it again after a wait.
   *
   * @returns A promise that resolves once it listens, or failed to.
   */
  async listen(): Promise<void> {
    if (this.#closed) return;
    this.#listening ??= this.#open().catch((error) => {
      this.#listening = undefined;
      log.debug("Cannot LISTEN, polling instead: {error}", {
        error: (error as Error)?.message,
      });
      if (!this.#closed && this.#handlers.size) {
        this.#relisten = setTimeout(() => void this.listen(), MAX_RELISTEN_MS);
      }
    });
    await this.#listening;
  }

  async #open(): Promise<void> {
    const client = new pg.Client(this.#clientConfig());
    client.on("error", () => {});
    client.on("notification", ({ channel, payload = "" }) => {
      if (channel === this.#channels.changes) {
        for (const wake of [...this.#waiters.get(payload) ?? []]) wake();
      } else this.#deliver(payload);
    });
    client.on("end", () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#listening = undefined;
      // Wake every reader: what was notified meanwhile is read now.
      this.#wakeAll();
      if (!this.#closed && this.#handlers.size) {
        this.#relisten = setTimeout(() => void this.listen(), 250);
      }
    });
    await client.connect();
    await client.query(`listen "${this.#channels.changes}"`);
    await client.query(`listen "${this.#channels.messages}"`);
    this.#client = client;
  }

  #clientConfig(): pg.ClientConfig {
    const options = (this.#pool as unknown as { options: pg.PoolConfig })
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

  /**
   * Waits up to `waitMs` for a notification that `env`'s change log grew.
   *
   * @param env The env.
   * @param waitMs The longest wait, in ms.
   * @param signal Ends the wait.
   * @returns The wait.
   */
  waitForChange(env: string, waitMs: number, signal?: AbortSignal): ChangeWait {
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

  /**
   * Calls `handler` with each message of `env` on `channel`.
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
    await this.listen();
    return () => {
      handlers.delete(wrapped);
      if (handlers.size === 0) this.#handlers.delete(key);
      return Promise.resolve();
    };
  }

  #deliver(text: string): void {
    try {
      const [env, channel, payload] = JSON.parse(text) as [
        string,
        string,
        string,
      ];
      const key = JSON.stringify([env, channel]);
      for (const handler of this.#handlers.get(key) ?? []) handler(payload);
    } catch (error) {
      log.warn("Skipping a message that is not roster's: {error}", {
        error: (error as Error).message,
      });
    }
  }

  #wakeAll(): void {
    for (const waiters of this.#waiters.values()) {
      for (const wake of [...waiters]) wake();
    }
  }

  /**
   * Ends every wait and closes the connection.
   *
   * @returns A promise that resolves once it is closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#relisten);
    this.#wakeAll();
    await this.#listening?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
