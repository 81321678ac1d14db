import { ENGINES, engineTest } from "../_engines.ts";
import { testDiscovery } from "./_discovery_suite.ts";

for (const engine of ENGINES) {
  Deno.test(
    engineTest(engine, `discovery on ${engine.name}`, async (t) => {
      await using backend = await engine.start();
      await testDiscovery(t, backend);
    }),
  );
}
