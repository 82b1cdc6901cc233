import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_IMAGE } from './swarm.ts';

const exec = promisify(execFile);

/** The private registry of scripts/docker-setup.sh (htpasswd auth on loopback). */
export const REGISTRY = '127.0.0.1:5000';

export async function registryCredentials(): Promise<{ username: string; password: string }> {
  const text = await readFile(new URL('../fixtures/registry.env', import.meta.url), 'utf8');
  const env = Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => l.split('=', 2) as [string, string]));
  return { username: env.REGISTRY_USER ?? '', password: env.REGISTRY_PASSWORD ?? '' };
}

/**
 * Pushes the test image to the private registry as `127.0.0.1:5000/<repo>:1` and removes the
 * local tag, so a service must really pull it. Logs in with a private DOCKER_CONFIG (the
 * machine's docker login state is shared with other tests) and logs out afterwards.
 */
export async function pushTestImage(repo: string): Promise<string> {
  const ref = `${REGISTRY}/${repo}:1`;
  const { username, password } = await registryCredentials();
  const config = await mkdtemp(join(tmpdir(), 'cf-docker-config-'));
  const env = { ...process.env, DOCKER_CONFIG: config };
  try {
    await exec('docker', ['tag', TEST_IMAGE, ref]);
    const login = exec('docker', ['login', '-u', username, '--password-stdin', REGISTRY], { env });
    login.child.stdin!.end(password);
    await login;
    await exec('docker', ['push', ref], { env });
  } finally {
    await exec('docker', ['logout', REGISTRY], { env }).catch(() => undefined);
    await exec('docker', ['rmi', ref]).catch(() => undefined);
    await rm(config, { recursive: true, force: true });
  }
  return ref;
}

/** Removes the local tag a pull left behind (never the image under it: other tags keep it). */
export async function untag(ref: string): Promise<void> {
  await exec('docker', ['rmi', '--no-prune', ref]).catch(() => undefined);
}
