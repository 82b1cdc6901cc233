import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import t from 'tap';
import { defaultSteps } from '../../ts/chain-steps.ts';
import { ImageResolver } from '../../ts/docker/image-resolver.ts';
import { RegistryClient } from '../../ts/docker/registry-client.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import type { RunResult } from '../../ts/reconcile/types.ts';
import { BRIDGE, connectNodes, NODES, type SwarmNode } from '../helpers/multinode.ts';
import { pushVariant, REGISTRY, registryCredentials } from '../helpers/registry.ts';
import { cleanupCluster, load, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * Image digests on the three-manager swarm: a global service's tag is pinned to a digest, so all
 * three nodes run the same bytes, and a re-pushed tag moves every node to the new bytes. Every
 * node's engine pulls from the host's private registry as 127.0.0.1:5000 through a relay in its
 * own network namespace (to a relay on the bridge address, to the registry on the host's loopback):
 * test/fixtures/tcp-relay.mjs, all four.
 */

const relayScript = new URL('../fixtures/tcp-relay.mjs', import.meta.url).pathname;

/**
 * tcp-relay.mjs listening on `listen` (in node N's network namespace when `n` is given), piping to
 * `target`. Resolves with the relay and the port it listens on.
 */
async function startRelay(listen: string, target: string, n?: number): Promise<{ child: ChildProcess; port: number }> {
  const args = [process.execPath, relayScript, listen, target];
  const child = n === undefined ? spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('nsenter', [`--net=/var/run/netns/cfn${n}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const failed = () => new Error(`the relay ${listen} -> ${target} exited: ${err}`);
  const ready = (async () => {
    for await (const line of lines) if (line.startsWith('listening ')) return Number(line.slice('listening '.length));
    throw failed();
  })();
  const port = await Promise.race([ready, once(child, 'exit').then(() => Promise.reject(failed()))]);
  return { child, port };
}

/** The image ID (config digest) each node's running task of `service` was started from. */
async function imagesByNode(nodes: SwarmNode[], service: string): Promise<Map<string, { image: string; imageId: string }>> {
  const tasks = (await nodes[0]!.docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } })) as any[];
  const out = new Map<string, { image: string; imageId: string }>();
  for (const task of tasks) {
    if (task.Status?.State !== 'running') continue;
    const node = nodes.find((x) => x.id === task.NodeID);
    const containerId = task.Status?.ContainerStatus?.ContainerID as string | undefined;
    if (!node || !containerId) continue;
    const container = await node.docker.getContainer(containerId).inspect();
    out.set(node.id, { image: task.Spec.ContainerSpec.Image as string, imageId: container.Image });
  }
  return out;
}

t.test('every node runs the same digest, before and after the tag is pushed again', async (t) => {
  const nodes = await connectNodes();
  const docker = nodes[0]!.docker;
  const creds = await registryCredentials();
  const bridge = await startRelay(`${BRIDGE}:0`, REGISTRY);
  const relays: ChildProcess[] = [bridge.child];
  const doc = testDoc('mndig');
  const cluster = doc.cluster.name;
  const ref = `${REGISTRY}/${uniqueName('cfmndigest')}:stable`;
  t.teardown(async () => {
    await cleanupCluster(docker, cluster);
    for (const r of relays) r.kill('SIGTERM');
    for (const n of nodes) n.conn.close();
  });
  for (const n of NODES) relays.push((await startRelay(REGISTRY, `${BRIDGE}:${bridge.port}`, n)).child);

  const digestA = await pushVariant(ref, `A ${cluster}`);
  const service = `${cluster}-app`;
  const loaded = load({
    ...doc,
    images: { resolve: 'always' },
    registries: [{ id: 'local', url: REGISTRY, username: creds.username, password: creds.password }],
    services: [{ name: service, image: ref.slice(REGISTRY.length + 1), registry: 'local', mode: 'global', command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"] }],
  });
  const resolver = new ImageResolver({ client: new RegistryClient({ timeoutMs: 5000 }) });
  const reconciler = new Reconciler({ steps: defaultSteps(docker, { images: resolver }), desired: () => loaded, log: silentLogger() });
  const run = async (why: string): Promise<RunResult> => (await reconciler.trigger(why))!;

  const first = await run('apply');
  t.equal(first.status, 'succeeded', `the first run succeeded ${JSON.stringify(first.steps.flatMap((s) => s.actions.filter((a) => a.error).map((a) => a.error)))}`);
  const id = (await docker.getService(service).inspect()).ID as string;
  /** Image IDs of the running tasks, once every node runs a task of `digest`. */
  const onEveryNode = (digest: string) =>
    waitFor(`a task of ${digest} on every node`, async () => {
      const m = await imagesByNode(nodes, service);
      return m.size === NODES.length && [...m.values()].every((x) => x.image === `${ref}@${digest}`) && m;
    }, 120_000, 500);
  const onA = await onEveryNode(digestA);
  const idsA = new Set([...onA.values()].map((x) => x.imageId));
  t.equal(idsA.size, 1, 'the three nodes run one and the same image');

  const digestB = await pushVariant(ref, `B ${cluster}`);
  t.not(digestB, digestA, 'the re-push stored other bytes');
  resolver.expire();
  const second = await run('image check');
  t.equal(second.status, 'succeeded', 'the check rolled the new digest out');
  t.equal((await docker.getService(service).inspect()).ID, id, 'updated in place: same service ID');
  const onB = await onEveryNode(digestB);
  const idsB = new Set([...onB.values()].map((x) => x.imageId));
  t.equal(idsB.size, 1, 'after the re-push, again one and the same image on every node');
  t.not([...idsB][0], [...idsA][0], 'and it is the new one');
});
