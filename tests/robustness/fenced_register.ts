/**
 * The fenced register leaders write their term to: it accepts a write only
 * if its term is at least the highest it has accepted, as a storage system
 * that honours fencing tokens would, and records every write with the time
 * it arrived. Processes of their own reach it over HTTP on loopback.
 *
 * @module
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FencedWrite } from "./history.ts";
import type { FenceRequest } from "./node_program.ts";

/** A register that refuses writes with a term below the highest accepted. */
export class FencedRegister implements AsyncDisposable {
  /** Every write, in the order they arrived. */
  readonly writes: FencedWrite[] = [];
  #highest = -Infinity;
  #server: Server | undefined;

  /**
   * Takes one write.
   *
   * @param request The leader's write.
   * @returns Whether it was accepted.
   */
  write(request: FenceRequest): boolean {
    const accepted = request.term >= this.#highest;
    if (accepted) this.#highest = request.term;
    this.writes.push({ ...request, t: Date.now(), accepted });
    return accepted;
  }

  /**
   * Serves `POST /` with a JSON write on a free loopback port.
   *
   * @returns Its URL.
   */
  async listen(): Promise<string> {
    const server = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => body += chunk);
      request.on("end", () => {
        const accepted = this.write(JSON.parse(body) as FenceRequest);
        response.writeHead(accepted ? 200 : 409).end();
      });
    });
    server.keepAliveTimeout = 1_000;
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve)
    );
    this.#server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
