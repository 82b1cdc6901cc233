/** Names compare case-insensitively and without a trailing dot. */
export function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The zone a name belongs to: the longest zone it equals or ends with; undefined outside all. */
export function zoneOf(name: string, zones: readonly string[]): string | undefined {
  const n = normalName(name);
  let best: string | undefined;
  for (const z of zones) {
    if ((n === z || n.endsWith(`.${z}`)) && (best === undefined || z.length > best.length)) best = z;
  }
  return best;
}

/** Whether `name` matches one of the patterns: exact names, or `*.suffix` for names under it. */
export function matchesAny(name: string, patterns: readonly string[]): boolean {
  const n = normalName(name);
  return patterns.some((p) => {
    const q = normalName(p);
    return q.startsWith('*.') ? n.endsWith(q.slice(1)) : n === q;
  });
}
