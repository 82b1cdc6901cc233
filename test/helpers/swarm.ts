import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { connectDocker, type DockerConnection } from '../../ts/docker/client.ts';
import { LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGED_BY } from '../../ts/docker/labels.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import { defaultSteps } from '../../ts/chain-steps.ts';
import type { RunResult, Step } from '../../ts/reconcile/types.ts';
import { validateSpec, type LoadedSpec } from '../../ts/spec/parse.ts';

/**
 * Helpers for tests against the real swarm. Every test uses its own cluster name and its own
 * network and service names, so tests never see each other's objects, and removes what it made.
 */

export const TEST_IMAGE = 'coreflow-test/busybox:1';
/** A web server task of the test image: serves /www on port 8080. */
export const WEB_COMMAND = ['httpd', '-f', '-p', '8080', '-h', '/www'];

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export async function connect(): Promise<DockerConnection> {
  return connectDocker();
}

/**
 * A minimal valid document with unique names, base services off unless asked for. Image tags are
 * not resolved on a registry (`images.resolve: never`): the test images exist only on this
 * machine, as on an air-gapped swarm; tests of resolution turn it on.
 */
export function testDoc(prefix = 'cf'): Record<string, unknown> & { cluster: { name: string } } {
  const id = uniqueName(prefix);
  return {
    apiVersion: 'coreflow/v1',
    cluster: { name: id },
    networks: { gateway: { name: `${id}-gw` }, internal: { name: `${id}-int` } },
    baseServices: { coretraffic: { enabled: false }, corelog: { enabled: false }, corestore: { enabled: false } },
    images: { resolve: 'never' },
    services: [],
  };
}

export function load(doc: unknown): LoadedSpec {
  return validateSpec(doc);
}

/** One run of the chain (the default steps unless given) on a document. */
export async function runOnce(
  docker: Docker,
  doc: unknown,
  opts: { dryRun?: boolean; confirmMassDeletion?: boolean; steps?: Step[] } = {},
): Promise<RunResult> {
  const loaded = load(doc);
  const reconciler = new Reconciler({
    steps: opts.steps ?? defaultSteps(docker),
    desired: () => loaded,
    log: silentLogger(),
    dryRun: opts.dryRun ?? false,
    confirmMassDeletion: opts.confirmMassDeletion ?? false,
  });
  return (await reconciler.trigger('test'))!;
}

/** Removes every object labelled with this cluster: services first, then secrets, configs, volumes, networks. */
export async function cleanupCluster(docker: Docker, cluster: string): Promise<void> {
  const filters = { label: [`${LABEL_MANAGED_BY}=${MANAGED_BY}`, `${LABEL_CLUSTER}=${cluster}`] };
  for (const s of await docker.listServices({ filters })) await docker.getService(s.ID).remove().catch(() => undefined);
  // Networks stay in use until the removed services' containers are gone: retry for a while.
  for (const s of await docker.listSecrets({ filters })) await docker.getSecret(s.ID).remove().catch(() => undefined);
  // The agent lease (a Swarm config).
  for (const c of await docker.listConfigs({ filters })) await docker.getConfig((c as { ID: string }).ID).remove().catch(() => undefined);
  for (let i = 0; i < 20; i++) {
    const nets = await docker.listNetworks({ filters });
    if (nets.length === 0) break;
    for (const n of nets) await docker.getNetwork(n.Id).remove().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
  }
  const vols = await docker.listVolumes({ filters });
  for (const v of vols.Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
}

/** Polls until `check` returns a value other than undefined/false, or throws after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** waitFor for an in-process condition: checked every 5 ms, for up to `timeoutMs`. */
export function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<true> {
  return waitFor(what, async () => check(), timeoutMs, 5);
}

/**
 * Waits until no service of the cluster is in the middle of a rolling update: Docker bumps a
 * service's version when its update completes, so version comparisons need a settled swarm.
 */
export async function settled(docker: Docker, cluster: string): Promise<void> {
  const filters = { label: [`${LABEL_CLUSTER}=${cluster}`] };
  await waitFor(`cluster ${cluster} settled`, async () => {
    const list = await docker.listServices({ filters });
    return list.every((s) => !['updating', 'rollback_started'].includes(s.UpdateStatus?.State ?? ''));
  }, 60_000).catch(async (err: Error) => {
    throw new Error(`${err.message}; ${await rollingUpdates(docker, filters)}`);
  });
}

/** What a stuck rolling update looks like: each updating service's status and its tasks' states. */
async function rollingUpdates(docker: Docker, filters: { label: string[] }): Promise<string> {
  const services = (await docker.listServices({ filters })).filter((s) => s.UpdateStatus?.State === 'updating' || s.UpdateStatus?.State === 'rollback_started');
  const lines = await Promise.all(services.map(async (s) => {
    const tasks = await docker.listTasks({ filters: { service: [s.ID!] } });
    const states = tasks.map((x) => `${x.ID?.slice(0, 8)} v${x.Version?.Index} ${x.Status?.State}/${x.DesiredState}${x.Status?.Err ? ` (${x.Status.Err})` : ''} ${x.Status?.Message ?? ''}`);
    return `${s.Spec?.Name} ${s.UpdateStatus?.State} (${s.UpdateStatus?.Message ?? ''}) since ${s.UpdateStatus?.StartedAt}: ${states.join('; ')}`;
  }));
  return lines.join(' | ') || 'no service updating any more';
}
