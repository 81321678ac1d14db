/**
 * Brings the PostgreSQL driver's tables to {@linkcode SCHEMA_VERSION}: one
 * read when they are there, so a steady start runs no DDL; migrations only
 * when they are behind or missing, under an advisory lock and a lock
 * timeout, so a long reader fails the migration rather than stall every
 * heartbeat behind it.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import { type Queryable, rows } from "./_codec.ts";
import { SCHEMA_VERSION, schemaStatements, type Tables } from "./_schema.ts";
import { transaction } from "./_transaction.ts";
import type { PostgresPool } from "./options.ts";

/** How long a process waits for another's migration, and each DDL statement may take, in ms. */
const MIGRATION_WAIT_MS = 30_000;
/** How long a migration waits for a table lock before it gives up. */
const MIGRATION_LOCK_TIMEOUT_MS = 500;

/** The schema's state as one driver knows it: ready, or to be migrated. */
export class SchemaMigration {
  readonly #pool: PostgresPool;
  readonly #schema: string;
  readonly #tables: Tables;
  #ready: Promise<void> | undefined;
  /** A call found a table or the schema missing: migrate whatever the version says. */
  #tablesLost = false;

  /**
   * @param pool The pool to migrate through.
   * @param schema The schema name.
   * @param tables Its tables.
   */
  constructor(pool: PostgresPool, schema: string, tables: Tables) {
    this.#pool = pool;
    this.#schema = schema;
    this.#tables = tables;
  }

  /**
   * Resolves once the tables are at {@linkcode SCHEMA_VERSION}; checked
   * once, and again after {@linkcode SchemaMigration.lost}.
   *
   * @returns A promise that resolves when the tables are ready.
   * @throws {ConfigError} For tables newer than this release reads.
   */
  ready(): Promise<void> {
    this.#ready ??= this.#ensure().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** A call found a table or the schema missing: the next call puts it back. */
  lost(): void {
    this.#tablesLost = true;
    this.#ready = undefined;
  }

  async #ensure(): Promise<void> {
    if (
      !this.#tablesLost &&
      await this.#version(this.#pool) === SCHEMA_VERSION
    ) return;
    await transaction(this.#pool, async (db) => {
      // Many processes may start at once; one migrates, the others wait,
      // longer than a heartbeat's query timeout (the lock timeout bounds
      // what the migration itself waits for).
      await rows(
        db,
        "select pg_advisory_xact_lock(hashtext($1))",
        [this.#schema],
        MIGRATION_WAIT_MS,
      );
      const version = await this.#version(db);
      if (version === SCHEMA_VERSION && !this.#tablesLost) return;
      await db.query(`set local lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
      try {
        for (const statement of schemaStatements(this.#schema)) {
          await rows(db, statement, [], MIGRATION_WAIT_MS);
        }
      } catch (error) {
        throw new Error(
          `Cannot bring schema '${this.#schema}' from version ${version} to ${SCHEMA_VERSION}: ${
            (error as Error)?.message ?? error
          }; a long query may hold a table it changes: try again when it ends`,
          { cause: error },
        );
      }
      await db.query(`delete from ${this.#tables.schemaVersion}`);
      await db.query(
        `insert into ${this.#tables.schemaVersion} (version) values ($1)`,
        [SCHEMA_VERSION],
      );
    });
    this.#tablesLost = false;
  }

  /**
   * The tables' version: 0 when they are missing (or were made before
   * versions were kept). Throws for a version this release does not read.
   */
  async #version(db: Queryable): Promise<number> {
    // At start, many processes at once: longer than a heartbeat may wait.
    const [present] = await rows(
      db,
      "select to_regclass($1) is not null as ok",
      [this.#tables.schemaVersion],
      MIGRATION_WAIT_MS,
    );
    if (!present?.ok) return 0;
    const [row] = await rows(
      db,
      `select max(version) as version from ${this.#tables.schemaVersion}`,
      [],
      MIGRATION_WAIT_MS,
    );
    const version = Number(row?.version ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new ConfigError(
        `Cannot use schema '${this.#schema}': its tables are at version ${version}, newer than this release of roster reads (${SCHEMA_VERSION}); upgrade roster on this host`,
        { field: "schema" },
      );
    }
    return version;
  }
}
