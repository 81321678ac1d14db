// One Moleculer node with its Redis discoverer, for the benchmark only.
// Usage: node moleculer_node.mjs <nodeID> <redisUrl> <natsUrl> <intervalSeconds> <timeoutSeconds> [watch]
import { ServiceBroker } from "moleculer";

const [nodeID, redis, nats, interval, timeout, mode] = process.argv.slice(2);
const broker = new ServiceBroker({
  nodeID,
  logger: false,
  transporter: nats,
  registry: {
    discoverer: {
      type: "Redis",
      options: {
        redis,
        heartbeatInterval: Number(interval),
        heartbeatTimeout: Number(timeout),
        fullCheck: 10,
        scanLength: 100,
      },
    },
  },
});
if (mode === "watch") {
  broker.createService({
    name: "watcher",
    events: {
      "$node.connected"(ctx) {
        console.log(
          JSON.stringify({
            at: Date.now(),
            type: "join",
            id: ctx.params.node.id,
          }),
        );
      },
      "$node.disconnected"(ctx) {
        console.log(
          JSON.stringify({
            at: Date.now(),
            type: "leave",
            id: ctx.params.node.id,
            unexpected: ctx.params.unexpected,
          }),
        );
      },
    },
  });
}
process.on("SIGTERM", async () => {
  await broker.stop();
  process.exit(0);
});
process.on("message", () => {});
process.stdin.on("data", (line) => {
  if (String(line).trim() === "list") {
    const start = performance.now();
    const nodes = broker.registry.getNodeList({ onlyAvailable: true });
    console.log(
      JSON.stringify({
        type: "list",
        count: nodes.length,
        ms: performance.now() - start,
      }),
    );
  }
});
await broker.start();
console.log(JSON.stringify({ at: Date.now(), type: "started", id: nodeID }));
