// Many Moleculer nodes in one process, each a broker with its own Redis
// discoverer and NATS connection, for the benchmark only.
// Usage: node moleculer_nodes.mjs <count> <redisUrl> <natsUrl> <intervalSeconds> <timeoutSeconds>
import { ServiceBroker } from "moleculer";

const [count, redis, nats, interval, timeout] = process.argv.slice(2);
const brokers = [];
for (let i = 0; i < Number(count); i++) {
  const broker = new ServiceBroker({
    nodeID: `node-${i}`,
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
  brokers.push(broker);
  await broker.start();
}
console.log(JSON.stringify({ type: "started", count: brokers.length }));
process.on("SIGTERM", async () => {
  for (const broker of brokers) await broker.stop();
  process.exit(0);
});
