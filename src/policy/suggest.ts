// "Did you mean" suggestions for unknown keys, values, operators and variables.

/** Levenshtein distance, bounded: returns max + 1 as soon as the distance must exceed `max`. */
export function editDistance(a: string, b: string, max = Infinity): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    prev = cur;
  }
  return prev[b.length] as number;
}

/** The candidate closest to `word` within `maxDistance` edits (case-insensitive; earlier candidates win ties),
 * or undefined. Short words get a tighter bound so `ip` does not suggest `id`. */
export function closest(word: string, candidates: Iterable<string>, maxDistance = 2): string | undefined {
  const w = word.toLowerCase();
  const bound = Math.min(maxDistance, Math.max(1, Math.floor(w.length / 3)));
  let best: string | undefined;
  let bestDistance = bound + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase(), bound);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
