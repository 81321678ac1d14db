import { PostgresDriver } from "./drivers/postgres/mod.ts";
import { PostgresServer } from "./tests/_postgres_server.ts";
import { registration } from "./tests/_registration.ts";
Deno.test("dbg", async () => {
  await using server = await PostgresServer.start();
  const d = await PostgresDriver.connect({
    url: server.url,
    queryTimeout: 100,
  });
  const a = registration({ id: "a", ttl: 600 });
  const first = await d.register(a);
  let stop = false;
  const beats = (async () => {
    while (!stop) {
      try {
        const r = await d.heartbeat(a);
        if (r.instance.seq !== first.seq) {
          console.log("NEW SEQ", r.reregistered);
        }
      } catch (e) {
        console.log("beat failed", String(e).slice(0, 80));
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  await server.query(
    `DO $$ BEGIN LOCK TABLE roster.instances IN EXCLUSIVE MODE; PERFORM pg_sleep(1.5); END $$`,
  );
  console.log("lock released");
  console.log(
    await server.query(
      "select env, out_from, out_to, (extract(epoch from clock_timestamp())*1000)::int8 as now from roster.envs",
    ),
  );
  await new Promise((r) => setTimeout(r, 800));
  stop = true;
  await beats;
  console.log(
    await server.query("select seq, expires_at from roster.instances"),
    first.seq,
  );
  await d.close();
});
