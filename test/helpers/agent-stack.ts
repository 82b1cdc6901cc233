import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { runProcess } from './run-process.ts';
import { waitFor } from './swarm.ts';

const root = new URL('../..', import.meta.url).pathname;
export const STACK_FILE = `${root}examples/coreflow-stack.yml`;

/** The address of the host on docker_gwbridge: what a task on an overlay network reaches the host at. */
export async function gatewayAddress(dockerHost?: string): Promise<string> {
  const out = await runProcess('docker', [...(dockerHost ? ['-H', dockerHost] : []), 'network', 'inspect', 'docker_gwbridge', '-f', '{{(index .IPAM.Config 0).Gateway}}']);
  if (out.code !== 0) throw new Error(`no docker_gwbridge: ${out.stderr}`);
  return out.stdout.trim();
}

export interface AgentStackOptions {
  /** Stack name (letters and digits). */
  stack: string;
  image: string;
  cloudlyUrl: string;
  /** The machine token; stored as the Docker secret `<stack>-jumpcode`. */
  jumpcode: string;
  leaseSeconds?: number;
  logLevel?: string;
  /** Another engine (a manager of another swarm), e.g. unix:///var/run/docker-cfn1.sock. */
  dockerHost?: string;
}

export interface AgentStack {
  stack: string;
  /** The agent's Swarm service: `<stack>_agent`. */
  service: string;
  /** When `docker stack deploy` was started and when it returned (ms, Date.now()). */
  deployStartedAt: number;
  deployedAt: number;
  /** Removes the stack, its volume, network and secrets; waits until its containers are gone. */
  remove(): Promise<void>;
  /** `p`, and when it fails: its error with the agent's tasks (state, node, error) and last log lines added. */
  explain<T>(p: Promise<T>): Promise<T>;
}

/**
 * Deploys examples/coreflow-stack.yml as an operator would (`docker stack deploy --detach=true
 * --resolve-image never`), with its secrets (`<stack>-jumpcode`, `<stack>-edge`, a random edge
 * token) created first and the socket's group of this machine.
 */
export async function deployAgentStack(o: AgentStackOptions): Promise<AgentStack> {
  const h = o.dockerHost ? ['-H', o.dockerHost] : [];
  const docker = (args: string[], env?: NodeJS.ProcessEnv, input?: string) =>
    input === undefined ? runProcess('docker', [...h, ...args], env ? { env } : {}) : runProcess('sh', ['-c', `printf %s "$SECRET_VALUE" | docker ${h.join(' ')} ${args.join(' ')}`], { env: { ...process.env, SECRET_VALUE: input } });
  const secrets = { jumpcode: `${o.stack}-jumpcode`, edge: `${o.stack}-edge` };
  for (const [name, value] of [[secrets.jumpcode, o.jumpcode], [secrets.edge, randomBytes(24).toString('hex')]] as const) {
    const out = await docker(['secret', 'create', name, '-'], undefined, value);
    if (out.code !== 0) throw new Error(`docker secret create ${name}: ${out.stderr}`);
  }
  const gid = String((await stat('/var/run/docker.sock')).gid);
  const env = {
    ...process.env,
    COREFLOW_IMAGE: o.image,
    DOCKER_GID: gid,
    CLOUDLY_URL: o.cloudlyUrl,
    COREFLOW_JUMPCODE_SECRET: secrets.jumpcode,
    COREFLOW_EDGE_TOKEN_SECRET: secrets.edge,
    COREFLOW_LEASE_SECONDS: String(o.leaseSeconds ?? 15),
    COREFLOW_LOG_LEVEL: o.logLevel ?? 'info',
  };
  const deployStartedAt = Date.now();
  const out = await docker(['stack', 'deploy', '--detach=true', '--resolve-image', 'never', '-c', STACK_FILE, o.stack], env);
  const deployedAt = Date.now();
  const remove = async () => {
    await docker(['stack', 'rm', o.stack]);
    await waitFor('the stack\'s containers gone', async () => (await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${o.stack}`])).stdout.trim() === '', 60_000).catch(() => undefined);
    await docker(['volume', 'rm', `${o.stack}_state`]);
    await docker(['secret', 'rm', secrets.jumpcode, secrets.edge]);
    await waitFor('the stack\'s network gone', async () => (await docker(['network', 'ls', '-q', '--filter', `name=${o.stack}_agent`])).stdout.trim() === '', 30_000).catch(() => undefined);
  };
  const explain = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      const service = `${o.stack}_agent`;
      const ps = await docker(['service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}', service]);
      const logs = await docker(['service', 'logs', '--raw', '--tail', '15', service]);
      const detail = `${err instanceof Error ? err.message : String(err)}\nagent tasks:\n${ps.stdout}${ps.stderr}agent logs:\n${logs.stdout}${logs.stderr}`;
      throw new Error(detail);
    }
  };
  if (out.code !== 0) {
    await remove();
    throw new Error(`docker stack deploy: ${out.stderr}`);
  }
  return { stack: o.stack, service: `${o.stack}_agent`, deployStartedAt, deployedAt, remove, explain };
}
