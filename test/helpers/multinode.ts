import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { connectDocker, type DockerConnection } from '../../ts/docker/client.ts';
import { waitFor } from './swarm.ts';

/**
 * The three-manager swarm of scripts/multinode.sh (`npm run test:multinode` brings it up): node N's
 * engine answers on unix:///var/run/docker-cfnN.sock and the host reaches node N's published ports
 * on 10.213.0.1N (host-mode ports bind in the node's network namespace).
 */

export const NODES = [1, 2, 3] as const;
export type NodeNumber = (typeof NODES)[number];

const script = new URL('../../scripts/multinode.sh', import.meta.url).pathname;
const run = promisify(execFile);

/** The host's address on the nodes' bridge: a process on the host listening there is reachable from every node's containers. */
export const BRIDGE = '10.213.0.1';
/** The agent image scripts/test-multinode.sh builds and copies into the nodes. */
export const AGENT_IMAGE = process.env.COREFLOW_AGENT_IMAGE ?? 'coreflow:local';

export const nodeSocket = (n: NodeNumber): string => `unix:///var/run/docker-cfn${n}.sock`;
export const nodeAddress = (n: NodeNumber): string => `10.213.0.1${n}`;

export interface SwarmNode {
  n: NodeNumber;
  conn: DockerConnection;
  docker: Docker;
  /** The swarm node ID (every node has the machine's hostname: IDs tell them apart). */
  id: string;
}

/** Connects to every node's engine and checks they form one swarm of three reachable managers. */
export async function connectNodes(): Promise<SwarmNode[]> {
  const nodes: SwarmNode[] = [];
  for (const n of NODES) {
    const conn = await connectDocker({ host: nodeSocket(n) });
    const info = (await conn.docker.info()) as { Swarm?: { NodeID?: string; LocalNodeState?: string; ControlAvailable?: boolean } };
    if (info.Swarm?.LocalNodeState !== 'active' || !info.Swarm.ControlAvailable || !info.Swarm.NodeID) {
      throw new Error(`node ${n} (${nodeSocket(n)}) is not an active swarm manager: run \`bash scripts/multinode.sh up\``);
    }
    nodes.push({ n, conn, docker: conn.docker, id: info.Swarm.NodeID });
  }
  const ids = (await nodes[0]!.docker.listNodes()).map((x) => x.ID);
  for (const node of nodes) if (!ids.includes(node.id)) throw new Error(`node ${node.n} is not in node 1's swarm`);
  return nodes;
}

/** Stops node N's engine (scripts/multinode.sh stop-node): its containers stop, the swarm loses a manager. */
export async function stopNode(n: NodeNumber): Promise<void> {
  await run('bash', [script, 'stop-node', String(n)], { timeout: 60_000 });
}

/** Starts node N's engine again; it rejoins the swarm by itself. Resolves once the swarm sees it ready. */
export async function startNode(n: NodeNumber, via: Docker): Promise<void> {
  await run('bash', [script, 'start-node', String(n)], { timeout: 60_000 });
  const conn = await connectDocker({ host: nodeSocket(n) });
  try {
    const info = (await conn.docker.info()) as { Swarm?: { NodeID?: string } };
    await waitFor(`node ${n} ready again`, async () => (await via.listNodes()).find((x) => x.ID === info.Swarm?.NodeID)?.Status?.State === 'ready', 60_000, 500);
  } finally {
    conn.close();
  }
}

/** Cuts node N off the bridge (scripts/multinode.sh isolate): a partition; its engine and containers keep running. */
export async function isolateNode(n: NodeNumber): Promise<void> {
  await run('bash', [script, 'isolate', String(n)], { timeout: 10_000 });
}

/** Puts node N back on the bridge (scripts/multinode.sh rejoin). */
export async function rejoinNode(n: NodeNumber): Promise<void> {
  await run('bash', [script, 'rejoin', String(n)], { timeout: 10_000 });
}

export interface TaskPlace {
  id: string;
  nodeId: string;
  /** The task's IP on the given network. */
  ip: string | undefined;
  /** The first 12 characters of the container ID: the container's hostname. */
  hostname: string | undefined;
  state: string;
  /** When the task reached its current state (Status.Timestamp), epoch ms. */
  since: number;
}

/** The running tasks of a service, with their node, container hostname and IP on `network`. */
export async function runningTasks(docker: Docker, service: string, network: string): Promise<TaskPlace[]> {
  const tasks = (await docker.listTasks({ filters: { service: [service], 'desired-state': ['running'] } })) as any[];
  return tasks
    .filter((t) => t.Status?.State === 'running')
    .map((t) => ({
      id: t.ID,
      nodeId: t.NodeID,
      ip: (t.NetworksAttachments as any[] | undefined)?.find((a) => a.Network?.Spec?.Name === network)?.Addresses?.[0]?.split('/')[0],
      hostname: t.Status?.ContainerStatus?.ContainerID?.slice(0, 12),
      state: t.Status.State,
      since: Date.parse(t.Status.Timestamp),
    }));
}

/** Sets a node's availability (active, pause, drain) at its current version. */
export async function setAvailability(docker: Docker, nodeId: string, availability: 'active' | 'drain'): Promise<void> {
  const node = await docker.getNode(nodeId).inspect();
  await docker.getNode(nodeId).update({ version: node.Version.Index, ...node.Spec, Availability: availability });
}
