/**
 * The PostgreSQL driver's tables, created on first use under a schema of
 * the user's choosing (default `roster`). Times are milliseconds since the
 * epoch by the database's clock (`clock_timestamp()`), as `int8`.
 *
 * | table       | holds                                                          |
 * | ----------- | -------------------------------------------------------------- |
 * | `envs`      | per env: `epoch` (new when the row is lost), `seq` and `log_pos` counters, the last outage clients reported (`out_from`, `out_to`); the row lock orders an env's changes |
 * | `instances` | one row per registration; `owner` is a digest of the token     |
 * | `changes`   | the change log, `(env, pos)`, capped per env                   |
 * | `leaders`   | per service: the last term, and who holds it                   |
 * | `schema_version` | one row: the version of these tables                      |
 *
 * A process that finds the tables at {@linkcode SCHEMA_VERSION} runs no DDL
 * at all, so a steady start needs only DML rights and never queues for a
 * table lock; one that finds them behind (or missing) brings them up to
 * date; one that finds them ahead refuses.
 * @module
 */

/**
 * The version of the tables this release reads and writes. A new column or
 * table is a new version, with its statements in
 * {@linkcode schemaStatements} (each idempotent).
 */
export const SCHEMA_VERSION = 2;

/** A schema name: lower-case, safe to quote and to use in channel names. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * The statements that bring the schema to {@linkcode SCHEMA_VERSION} from
 * any earlier state, nothing included; each is idempotent.
 *
 * @param schema The schema name, already checked against {@linkcode SCHEMA_NAME}.
 * @returns The statements, in order.
 */
export function schemaStatements(schema: string): string[] {
  const s = `"${schema}"`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE TABLE IF NOT EXISTS ${s}.envs (
      env text PRIMARY KEY,
      epoch text NOT NULL,
      seq int8 NOT NULL,
      log_pos int8 NOT NULL DEFAULT 0
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}.instances (
      env text NOT NULL,
      id text NOT NULL,
      service text NOT NULL,
      owner text NOT NULL,
      seq int8 NOT NULL,
      registered_at int8 NOT NULL,
      heartbeat_at int8 NOT NULL,
      expires_at int8 NOT NULL,
      grace_until int8 NOT NULL DEFAULT 0,
      ttl int4 NOT NULL,
      heartbeat_interval int4 NOT NULL,
      status text NOT NULL,
      version text NOT NULL,
      addr text NOT NULL,
      hostname text NOT NULL,
      pid int4 NOT NULL,
      meta jsonb NOT NULL,
      PRIMARY KEY (env, id)
    )`,
    // Added after the first release: tables made before it gain it here.
    addColumn(schema, "instances", "weight int4 NOT NULL DEFAULT 100"),
    // (CREATE INDEX IF NOT EXISTS locks the table before it looks.)
    `DO $$ BEGIN
       IF to_regclass('${s}.instances_by_expiry') IS NULL THEN
         CREATE INDEX instances_by_expiry ON ${s}.instances (env, expires_at);
       END IF;
     END $$`,
    `CREATE TABLE IF NOT EXISTS ${s}.changes (
      env text NOT NULL,
      pos int8 NOT NULL,
      type text NOT NULL,
      reason text NOT NULL,
      instance jsonb NOT NULL,
      PRIMARY KEY (env, pos)
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}.leaders (
      env text NOT NULL,
      service text NOT NULL,
      term int8 NOT NULL,
      id text,
      seq int8,
      PRIMARY KEY (env, service)
    )`,
    `CREATE TABLE IF NOT EXISTS ${s}.schema_version (version int4 NOT NULL)`,
    // Version 2: the outage clients report (see the driver's evidence).
    addColumn(schema, "envs", "out_from int8 NOT NULL DEFAULT 0"),
    addColumn(schema, "envs", "out_to int8 NOT NULL DEFAULT 0"),
  ];
}

/**
 * Adds a column where it is missing. Only then does it take the table's
 * lock: `ADD COLUMN IF NOT EXISTS` takes it even when the column is there,
 * and would queue behind a long reader for nothing.
 */
function addColumn(schema: string, table: string, column: string): string {
  const name = column.split(" ")[0]!;
  return `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
      WHERE table_schema = '${schema}' AND table_name = '${table}'
        AND column_name = '${name}') THEN
      ALTER TABLE "${schema}".${table} ADD COLUMN ${column};
    END IF;
  END $$`;
}

/** The driver's tables, schema-qualified and quoted, as SQL names them. */
export interface Tables {
  envs: string;
  instances: string;
  changes: string;
  leaders: string;
  schemaVersion: string;
}

/**
 * The tables of a schema, as SQL names them.
 *
 * @param schema The schema name, already checked against {@linkcode SCHEMA_NAME}.
 * @returns Their quoted, schema-qualified names.
 */
export function tablesOf(schema: string): Tables {
  return {
    envs: `"${schema}".envs`,
    instances: `"${schema}".instances`,
    changes: `"${schema}".changes`,
    leaders: `"${schema}".leaders`,
    schemaVersion: `"${schema}".schema_version`,
  };
}
