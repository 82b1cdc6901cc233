import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** coreflow's version (package.json, one level above both ts/ and dist/), for backup manifests. */
export function coreflowVersion(): string {
  try {
    cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    cached = 'unknown';
  }
  return cached;
}
