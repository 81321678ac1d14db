/**
 * What a driver stores of an owner token: a digest, never the token.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * The 16-hex SHA-256 digest a driver stores in place of an owner token, so
 * a read of the backend never yields a token that could refresh or remove
 * another process's registration.
 *
 * @param owner The owner token.
 * @returns Its digest.
 */
export function ownerDigest(owner: string): string {
  return createHash("sha256").update(owner).digest("hex").slice(0, 16);
}
