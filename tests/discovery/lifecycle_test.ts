import { ENGINES, engineTest } from "../_engines.ts";
import { testLifecycle } from "./_lifecycle_suite.ts";

for (const engine of ENGINES) {
  Deno.test(
    engineTest(
      engine,
      `drain, maintenance and eviction protection on ${engine.name}`,
      async (t) => {
        await using backend = await engine.start();
        await testLifecycle(t, {
          driver: () => backend.driver(),
          ttl: backend.shortestTtl,
        });
      },
    ),
  );
}
