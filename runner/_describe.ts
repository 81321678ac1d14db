/** Shows a value inside a runner error message: quoted, shortened, never huge. */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    const short = value.length > 64 ? `${value.slice(0, 61)}...` : value;
    return `'${short}'`;
  }
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (typeof value === "object") return "a table";
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  return `a ${typeof value}`;
}
