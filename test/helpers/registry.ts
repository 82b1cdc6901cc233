import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
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

/**
 * Builds a small image of its own (the test image's busybox plus a file /variant holding
 * `marker`, so every marker gives other bytes and another digest), pushes it as `ref` and
 * removes the local tag. Returns the digest the registry stored.
 */
export async function pushVariant(ref: string, marker: string): Promise<string> {
  const { username, password } = await registryCredentials();
  const host = ref.split('/')[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'cf-variant-'));
  const config = await mkdtemp(join(tmpdir(), 'cf-docker-config-'));
  const env = { ...process.env, DOCKER_CONFIG: config };
  try {
    await exec('sh', ['-c', 'mkdir -p "$1/bin" && cp /bin/busybox "$1/bin/" && for c in sh sleep cat; do ln -sf busybox "$1/bin/$c"; done && printf %s "$2" > "$1/variant"', 'sh', dir, marker]);
    await exec('sh', ['-c', 'tar -C "$1" -c . | docker import - "$2"', 'sh', dir, ref]);
    const login = exec('docker', ['login', '-u', username, '--password-stdin', host], { env });
    login.child.stdin!.end(password);
    await login;
    const { stdout } = await exec('docker', ['push', ref], { env });
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    if (!digest) throw new Error(`docker push ${ref} printed no digest: ${stdout}`);
    return digest;
  } finally {
    await exec('docker', ['logout', host], { env }).catch(() => undefined);
    await exec('docker', ['rmi', ref]).catch(() => undefined);
    await rm(config, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/** A TCP relay to the shared registry on a port of its own: stopping it makes "the registry" unreachable without touching the shared one. */
export interface RegistryRelay {
  /** `127.0.0.1:<port>`, an image host Docker also speaks plain HTTP to. */
  host: string;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

export async function startRegistryRelay(): Promise<RegistryRelay> {
  const sockets = new Set<Socket>();
  let port = 0;
  let server: Server | undefined;
  const listen = async () => {
    const s = createServer((client) => {
      const upstream = connect(5000, '127.0.0.1');
      for (const x of [client, upstream]) {
        sockets.add(x);
        x.on('close', () => sockets.delete(x));
        x.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  return {
    host: `127.0.0.1:${port}`,
    start: listen,
    stop: async () => {
      const s = server;
      server = undefined;
      for (const x of sockets) x.destroy();
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

/**
 * Removes the images the engine pulled for a repository of a test (`host/repo`, pulled by digest,
 * so untagged), once the containers of its removed services are gone: tried for up to 30 s.
 */
export async function removePulledImages(repository: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const { stdout } = await exec('docker', ['images', '-q', '--no-trunc', '--filter', `reference=${repository}`]).catch(() => ({ stdout: '' }));
    const ids = [...new Set(stdout.split('\n').filter(Boolean))];
    if (ids.length === 0) return;
    await exec('docker', ['rmi', ...ids]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
  }
}
