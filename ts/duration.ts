/**
 * Durations as compose files write them (Go's time.ParseDuration): a sequence of decimal numbers
 * with units, e.g. `10s`, `1m30s`, `1.5h`, `500ms`, `0`. Units: ns, us (or µs), ms, s, m, h.
 */
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Nanoseconds of a duration string, or undefined when it is not one. Negative durations start with `-`. */
export function parseDurationNs(text: string): number | undefined {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m || m.index !== at) return undefined;
    total += Number(m[1]) * (UNIT_NS[m[2] as string] ?? Number.NaN);
  }
  return Number.isFinite(total) ? sign * Math.round(total) : undefined;
}
