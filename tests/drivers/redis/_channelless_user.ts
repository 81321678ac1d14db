/**
 * A Redis ACL user with the prefix's keys and no channel: what a grant
 * without `&roster:*` gives (Redis 7 makes new users so by default).
 */

import type { RedisServer } from "../../_redis_server.ts";

/** The user's name, to grant it channels later (`ACL SETUSER … &…`). */
export const CHANNELLESS_USER = "keys-only";

/**
 * Creates the user on `redis`.
 *
 * @returns A URL that logs in as it.
 */
export async function channellessUser(redis: RedisServer): Promise<string> {
  const admin = await redis.admin();
  await admin.call(
    "ACL",
    "SETUSER",
    CHANNELLESS_USER,
    "on",
    ">keys-pass",
    "~roster:*",
    "resetchannels",
    "+@all",
    "-@dangerous",
    "+info",
  );
  return `redis://${CHANNELLESS_USER}:keys-pass@127.0.0.1:${redis.port}`;
}
