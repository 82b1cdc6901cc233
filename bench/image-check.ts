/**
 * Measures the cost of pinning tags to digests (not asserted in tests), against the real swarm and
 * the private registry on 127.0.0.1:5000:
 *   - registry requests and wall time of the first apply of N services over K distinct images;
 *   - a tag check with nothing re-pushed (every tag asked again): registry requests, wall time
 *     of the run, Docker writes;
 *   - a run between checks: registry requests;
 *   - for scale: N manifest lookups one per service (what resolving per service, as
 *     `docker stack deploy` does, costs).
 * Usage: node --import=tsx bench/image-check.ts [--services 100 --images 10]. Services have 0
 * replicas; it removes them and its networks (the pushed test images stay in the test registry).
 */
import { parseArgs } from 'node:util';
import { defaultSteps } from '../ts/chain-steps.ts';
import { imageRequests } from '../ts/docker/image-pin.ts';
import { parseImageRef } from '../ts/docker/image-ref.ts';
import { ImageResolver } from '../ts/docker/image-resolver.ts';
import { RegistryClient, type RegistryRequest } from '../ts/docker/registry-client.ts';
import { silentLogger } from '../ts/observe/logger.ts';
import { Reconciler } from '../ts/reconcile/reconciler.ts';
import type { RunResult } from '../ts/reconcile/types.ts';
import { pushVariant, REGISTRY, registryCredentials } from '../test/helpers/registry.ts';
import { cleanupCluster, connect, load, testDoc, uniqueName } from '../test/helpers/swarm.ts';

const { values } = parseArgs({ options: { services: { type: 'string', default: '100' }, images: { type: 'string', default: '10' } } });
const n = Number(values.services);
const k = Number(values.images);
const { docker, calls } = await connect();
const creds = await registryCredentials();
const prefix = uniqueName('benchimg');
const images = Array.from({ length: k }, (_, i) => `${prefix}-${i}:stable`);
for (const image of images) await pushVariant(`${REGISTRY}/${image}`, image);

const requests: RegistryRequest[] = [];
const client = new RegistryClient({ onRequest: (r) => requests.push(r) });
const resolver = new ImageResolver({ client });
const doc = testDoc('benchimg');
Object.assign(doc, {
  images: { resolve: 'always' },
  registries: [{ id: 'private', url: REGISTRY, username: creds.username, password: creds.password }],
  services: Array.from({ length: n }, (_, i) => ({ name: `${doc.cluster.name}-s${i}`, image: images[i % k], registry: 'private', command: ['sleep', '3600'], scaleFactor: 0 })),
});
const loaded = load(doc);
const reconciler = new Reconciler({ steps: defaultSteps(docker, { images: resolver }), desired: () => loaded, log: silentLogger() });

async function timed(reason: string): Promise<{ ms: number; result: RunResult; requests: number }> {
  requests.length = 0;
  const t0 = performance.now();
  const result = (await reconciler.trigger(reason))!;
  return { ms: performance.now() - t0, result, requests: requests.length };
}

const rows: string[] = [];
try {
  const first = await timed('apply');
  const pinned = first.result.steps.find((s) => s.kind === 'services')!.actions.filter((a) => a.status === 'succeeded').length;
  rows.push(`first apply, ${n} services over ${k} images: ${first.requests} registry requests, ${(first.ms / 1000).toFixed(2)} s wall (${pinned} services created pinned)`);
  resolver.expire();
  calls.reset();
  const check = await timed('image check');
  rows.push(`tag check, nothing re-pushed: ${check.requests} registry requests, ${check.ms.toFixed(0)} ms wall for the whole run, ${calls.writes()} Docker writes`);
  resolver.expire();
  requests.length = 0;
  const r0 = performance.now();
  await resolver.resolve(imageRequests(loaded.spec));
  rows.push(`  the tag check alone (resolving, no Docker): ${requests.length} registry requests, ${(performance.now() - r0).toFixed(0)} ms`);
  const between = await timed('between checks');
  rows.push(`run between checks: ${between.requests} registry requests, ${between.ms.toFixed(0)} ms wall`);
  requests.length = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await client.digest(parseImageRef(`${REGISTRY}/${images[i % k]}`), creds, { image: images[i % k]!, registry: 'private' });
  rows.push(`  for scale: one lookup per service, one after the other: ${requests.length} registry requests, ${(performance.now() - t0).toFixed(0)} ms`);
} finally {
  await cleanupCluster(docker, doc.cluster.name);
}
process.stdout.write(`${rows.join('\n')}\n`);
