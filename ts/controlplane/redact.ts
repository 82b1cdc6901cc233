/** What secret values are replaced with in everything the control plane shows. */
export const REDACTED = '[redacted]';

const SECRET_KEYS = new Set(['password', 'token', 'apitoken', 'privatekey', 'keypem', 'secret', 'jumpcode']);

/**
 * A copy of a desired-state document fit to show (HTTP API, event stream): secret bundle values
 * and any field named like a credential (password, token, privateKey...) become "[redacted]";
 * keys stay, so a person still sees which values exist. Agents get the real document over the
 * authenticated WebSocket only.
 */
export function redactDocument(doc: unknown): unknown {
  return walk(doc, []);
}

function walk(value: unknown, path: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, path));
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const inBundleValues = k === 'values' && path.at(-1) === 'secretBundles';
    if (inBundleValues && v && typeof v === 'object') out[k] = Object.fromEntries(Object.keys(v).map((key) => [key, REDACTED]));
    else if (SECRET_KEYS.has(k.toLowerCase()) && v !== undefined && typeof v !== 'object') out[k] = REDACTED;
    else out[k] = walk(v, [...path, k]);
  }
  return out;
}
