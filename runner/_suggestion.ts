/**
 * Suggests the closest valid name for a misspelt one.
 *
 * @param wrong The misspelt name.
 * @param valid The valid names.
 * @returns ` (did you mean 'x'?)`-style text, or `""` when nothing is close.
 */
export function suggestion(wrong: string, valid: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const distance = levenshtein(wrong.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  const limit = Math.max(2, Math.floor(wrong.length / 2));
  return best !== undefined && bestDistance <= limit
    ? ` (did you mean '${best}'?)`
    : "";
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
