import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Whether a source beside the process environment that qenv reads exists: .nogit/env.json,
 * env.yml or env.yaml, a qenv.yml in `cwd`, or a Docker secret named like one of `names` (or a
 * *secret.json*) under `secretsDir`. Cheap checks, so a process without an overlay never loads qenv.
 */
export function hasEnvOverlay(names: readonly string[], cwd: string, secretsDir = '/run/secrets'): boolean {
  const files = ['.nogit/env.json', '.nogit/env.yml', '.nogit/env.yaml', 'qenv.yml'];
  if (files.some((f) => existsSync(join(cwd, f)))) return true;
  let secrets: string[];
  try {
    secrets = readdirSync(secretsDir);
  } catch {
    return false;
  }
  return secrets.some((s) => names.includes(s) || s.includes('secret.json'));
}

/**
 * Reads variables from the environment and, where one exists, the overlays qenv reads (see
 * hasEnvOverlay). qenv is loaded only then: its dependency tree costs about a second of start-up.
 */
export async function readEnv(names: readonly string[], cwd = process.cwd()): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  if (!hasEnvOverlay(names, cwd)) {
    for (const name of names) out[name] = process.env[name];
    return out;
  }
  const { Qenv } = await import('@push.rocks/qenv');
  const qenv = new Qenv(cwd, `${cwd}/.nogit`, false);
  for (const name of names) out[name] = await qenv.getEnvVarOnDemand(name);
  return out;
}
