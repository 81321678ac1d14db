/**
 * What every answer of the status server carries: its security headers,
 * JSON bodies, and `HEAD`'s empty body.
 *
 * @module
 */

import { DASHBOARD_CSP } from "./dashboard.ts";

/** Headers every answer carries. */
export const SECURITY_HEADERS = {
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * A JSON answer.
 *
 * @param body What to send.
 * @param status The HTTP status.
 * @returns The response.
 */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "application/json; charset=utf-8",
    },
  });
}

/**
 * The same answer without its body, for `HEAD`.
 *
 * @param response The answer to `GET`.
 * @returns It, without its body.
 */
export async function headOf(response: Response): Promise<Response> {
  await response.body?.cancel();
  return new Response(null, {
    status: response.status,
    headers: response.headers,
  });
}
