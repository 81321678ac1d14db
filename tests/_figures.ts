/**
 * Figures a fault test measured, for docs/RELIABILITY.md: appended as JSON
 * lines to the file `RELIABILITY_FIGURES` names, when it names one.
 */

const path = Deno.env.get("RELIABILITY_FIGURES");

export function figure(
  test: string,
  name: string,
  value: number | string,
): void {
  if (!path) return;
  Deno.writeTextFileSync(path, JSON.stringify({ test, name, value }) + "\n", {
    append: true,
  });
}
