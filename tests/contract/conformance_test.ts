import { testDriverConformance } from "../../contract/conformance.ts";
import { ENGINES, engineTest } from "../_engines.ts";

for (const engine of ENGINES) {
  Deno.test(
    engineTest(
      engine,
      `${engine.name} passes the conformance suite`,
      async (t) => {
        await using backend = await engine.start();
        {
          await using harness = await backend.conformance();
          await testDriverConformance((name, fn) => t.step(name, fn), harness);
        }
        await backend.afterConformance?.();
      },
    ),
  );
}
