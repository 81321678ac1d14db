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
      client.readable.pipeTo(server.writable, { preventClose: true }).finally(
        close,
      ),
      server.readable.pipeTo(client.writable, { preventClose: true }).finally(
        close,
      ),
    ]);
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
    this.#listener.close();
    await this.cut();
    await this.#accepting.catch(() => {});
    await Promise.allSettled([...this.#pumps]);
  }
}
