/**
 * Drain: an instance about to leave is marked `draining`, so pickers,
 * listings for work and elections skip it while it finishes what it has,
 * and it deregisters after a linger.
 *
 * @module
 */

import type { Duration } from "../duration.ts";

/** Options for {@linkcode Session.drain}. */
export interface DrainOptions {
  /**
   * How long the instance stays listed as `draining` before it deregisters
   * (or, with `stop: false`, before `drain()` returns): the time clients
   * need to notice and send it no new work. 0 by default.
   */
  linger?: Duration;
  /** Whether to stop (deregister) once the linger is over; true by default. */
  stop?: boolean;
}
