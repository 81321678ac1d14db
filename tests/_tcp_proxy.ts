/**
 * A loopback TCP proxy the test controls: it forwards to a target port, and
 * can cut every connection and refuse new ones until restored.
 */

export class TcpProxy implements AsyncDisposable {
  readonly port: number;
  readonly #target: number;
  readonly #listener: Deno.TcpListener;
  readonly #connections = new Set<Deno.Conn>();
  readonly #pumps = new Set<Promise<void>>();
  #cut = false;
  #delayMs = 0;
  #held: PromiseWithResolvers<void> | undefined;
  #accepting: Promise<void>;

  constructor(target: number) {
    this.#target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#accept();
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      if (this.#cut) {
        client.close();
        continue;
      }
      const pump = this.#bridge(client).finally(() => this.#pumps.delete(pump));
      this.#pumps.add(pump);
    }
  }

  async #bridge(client: Deno.Conn): Promise<void> {
    let server: Deno.Conn;
    try {
      server = await Deno.connect({
        hostname: "127.0.0.1",
        port: this.#target,
      });
    } catch {
      client.close();
      return;
    }
    this.#connections.add(client);
    this.#connections.add(server);
    const close = () => {
      for (const conn of [client, server]) {
        if (this.#connections.delete(conn)) {
          try {
            conn.close();
          } catch { /* closed already */ }
        }
      }
    };
    await Promise.allSettled([
      this.#pump(client, server).finally(close),
      this.#pump(server, client).finally(close),
    ]);
  }

  /** Forwards bytes in order, holding them while blackholed or delayed. */
  async #pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const writer = to.writable.getWriter();
    try {
      for await (const chunk of from.readable) {
        while (this.#held) await this.#held.promise;
        if (this.#delayMs) {
          await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
        }
        await writer.write(chunk);
      }
    } finally {
      writer.releaseLock();
    }
  }

  /** Delays every chunk by `ms`, in both directions; 0 to stop. */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Holds every byte, as a network that drops packets would, until healed. */
  blackhole(): void {
    this.#held ??= Promise.withResolvers<void>();
  }

  /** Ends a blackhole or delay; held bytes flow on. */
  heal(): void {
    this.#delayMs = 0;
    const held = this.#held;
    this.#held = undefined;
    held?.resolve();
  }

  /** Drops every connection and refuses new ones. */
  async cut(): Promise<void> {
    this.#cut = true;
    for (const conn of [...this.#connections]) {
      this.#connections.delete(conn);
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    // Let the pumps see their connections closed.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** Accepts connections again. */
  restore(): void {
    this.#cut = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.heal();
    this.#listener.close();
    await this.cut();
    await this.#accepting.catch(() => {});
    await Promise.allSettled([...this.#pumps]);
  }
}
