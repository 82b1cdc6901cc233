/**
 * Paths where `desired` is not contained in `live`: every key desired sets must have the same
 * value live; keys only live has (Docker's defaults) are ignored. Empty arrays, empty objects and
 * absent keys count as equal, since Docker drops empty collections. Pure.
 */
export function subsetDiff(desired: unknown, live: unknown, path = ''): string[] {
  if (isEmpty(desired) && isEmpty(live)) return [];
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return [path || '(root)'];
    return desired.flatMap((d, i) => subsetDiff(d, live[i], `${path}[${i}]`)).length > 0 ? [path || '(root)'] : [];
  }
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return [path || '(root)'];
    const out: string[] = [];
    for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
      out.push(...subsetDiff(v, (live as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
    }
    return out;
  }
  return desired === live ? [] : [path || '(root)'];
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}
