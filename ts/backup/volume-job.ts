import type Docker from 'dockerode';
import { CoreflowError } from '../errors.ts';
import type { RawTask } from '../docker/raw-types.ts';
import { LABEL_CLUSTER } from '../docker/labels.ts';
import { dockerRequest, dockerStatus } from '../docker/request.ts';
import { JOB_MOUNT, jobCommand } from './job-scripts.ts';
import { localNode } from './swarm-ops.ts';

/** On every job service: the backup or restore it belongs to. Such services are not workloads. */
export const LABEL_BACKUP_JOB = 'coreflow.backup-job';

/** How a job task reaches the agent's internal server. */
export interface AgentEndpoint {
  host: string;
  port: number;
  /** The network the job's task is attached to (`host`: the node's own network). */
  network: string;
}

export interface JobRequest {
  name: string;
  image: string;
  /** The Swarm node ID the task must run on (the node that holds the volume). */
  node: string;
  volume: string;
  endpoint: AgentEndpoint;
  /** Path and query of the transfer grant, and its one-time token. */
  path: string;
  token: string;
  /** Labels of the job service (LABEL_BACKUP_JOB among them). */
  labels: Record<string, string>;
  /** Restore: labels and driver of the volume when the job creates it (a new volume). */
  volumeOptions?: { Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  /** Restore: the volume must be new, or empty (CF_INTO_NEW in the job's script). */
  intoNew?: boolean;
}

/** The container of a job, the same in a Swarm job and as a plain container. */
function jobContainer(req: JobRequest, script: string, readOnly: boolean) {
  return {
    Image: req.image,
    Command: jobCommand(script),
    // As root whatever the image's user (the volume's files keep their owners); no health
    // check of the image (the agent's own checks its server, which a job does not run).
    User: '0',
    Healthcheck: { Test: ['NONE'] },
    Env: [`CF_HOST=${req.endpoint.host}`, `CF_PORT=${req.endpoint.port}`, `CF_PATH=${req.path}`, `CF_TOKEN=${req.token}`, ...(req.intoNew ? ['CF_INTO_NEW=1'] : [])],
    Mounts: [{ Type: 'volume', Source: req.volume, Target: JOB_MOUNT, ...(readOnly ? { ReadOnly: true } : {}), ...(req.volumeOptions ? { VolumeOptions: req.volumeOptions } : {}) }],
    Labels: req.labels,
  };
}

/** Pure. The Engine API body of a one-off job service (replicated-job, one completion, no restart). */
export function jobServiceSpec(req: JobRequest, script: string, readOnly: boolean): Record<string, unknown> {
  return {
    Name: req.name,
    Labels: req.labels,
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
    TaskTemplate: {
      ContainerSpec: jobContainer(req, script, readOnly),
      Placement: { Constraints: [`node.id==${req.node}`] },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Networks: [{ Target: req.endpoint.network }],
    },
  };
}

/**
 * Pure. The Engine API body (POST /containers/create) of the same job as a plain container of the
 * engine the agent talks to, for a volume on the agent's own node: no Swarm scheduling, and its
 * end is seen at once (about a second less per job than a Swarm job).
 */
export function jobContainerSpec(req: JobRequest, script: string, readOnly: boolean): Record<string, unknown> {
  const { Command, Mounts, ...rest } = jobContainer(req, script, readOnly);
  return { ...rest, Entrypoint: Command, Cmd: [], HostConfig: { Mounts, NetworkMode: req.endpoint.network } };
}

/**
 * Removes a job's container, running or not, with its anonymous volumes (an image may declare a
 * VOLUME, as the agent's does; the job's named volume is never among them). Errors are ignored.
 */
async function removeJobContainer(docker: Docker, id: string, signal?: AbortSignal): Promise<void> {
  await dockerRequest(docker, { method: 'DELETE', path: `/containers/${id}`, query: { force: true, v: true }, ...(signal ? { signal } : {}) }).catch(() => undefined);
}

const FAILED = new Set(['failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

export interface JobOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  pollMs?: number;
  /** Settles early (rejects) when the transfer failed on the agent's side. */
  stopped?: Promise<unknown>;
}

/** The job's deadline joined with the caller's signal. */
function jobSignal(opts: JobOptions): AbortSignal {
  return opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) : AbortSignal.timeout(opts.timeoutMs);
}

const timedOut = (job: string, opts: JobOptions) => new CoreflowError('COREFLOW_ERR_BACKUP_JOB', { job, details: `no completion within ${opts.timeoutMs} ms` });
const pause = (opts: JobOptions) => new Promise((r) => setTimeout(r, opts.pollMs ?? 100));

/**
 * Creates and starts the job's container (jobContainerSpec, named `name`), waits for it to exit
 * and removes it whatever happened. A non-zero exit, or none within `timeoutMs`, is
 * COREFLOW_ERR_BACKUP_JOB.
 */
export async function runLocalJob(docker: Docker, name: string, body: Record<string, unknown>, opts: JobOptions): Promise<void> {
  const signal = jobSignal(opts);
  const created = await dockerRequest<{ Id: string }>(docker, { method: 'POST', path: '/containers/create', query: { name }, body, signal });
  let failedEarly: unknown;
  opts.stopped?.catch((err: unknown) => (failedEarly = err));
  try {
    await dockerRequest(docker, { method: 'POST', path: `/containers/${created.Id}/start`, body: {}, signal });
    for (;;) {
      if (failedEarly) throw failedEarly;
      if (signal.aborted) throw timedOut(name, opts);
      const { State } = await dockerRequest<{ State: { Status: string; ExitCode: number; Error?: string } }>(docker, { method: 'GET', path: `/containers/${created.Id}/json`, signal });
      if (State.Status === 'exited' || State.Status === 'dead') {
        if (State.ExitCode === 0) return;
        throw new CoreflowError('COREFLOW_ERR_BACKUP_JOB', { job: name, exitCode: State.ExitCode, details: `the container exited with code ${State.ExitCode}${State.Error ? `: ${State.Error}` : ''}` });
      }
      await pause(opts);
    }
  } finally {
    await removeJobContainer(docker, created.Id, AbortSignal.timeout(30_000));
  }
}

/**
 * Creates the job service, waits for its task to complete, and removes the service (and its
 * container, when it is on the agent's node) whatever happened. A task that fails, or no completion within `timeoutMs`, is COREFLOW_ERR_BACKUP_JOB
 * with Docker's reason.
 */
export async function runJob(docker: Docker, spec: Record<string, unknown>, opts: JobOptions): Promise<void> {
  const name = String(spec.Name);
  const signal = jobSignal(opts);
  const created = await dockerRequest<{ ID: string }>(docker, { method: 'POST', path: '/services/create', body: spec, signal });
  let failedEarly: unknown;
  const containers = new Set<string>();
  opts.stopped?.catch((err: unknown) => (failedEarly = err));
  try {
    const filters = JSON.stringify({ service: [created.ID] });
    for (;;) {
      if (failedEarly) throw failedEarly;
      if (signal.aborted) throw timedOut(name, opts);
      const tasks = await dockerRequest<RawTask[]>(docker, { method: 'GET', path: '/tasks', query: { filters }, signal });
      for (const task of tasks) if (task.Status.ContainerStatus?.ContainerID) containers.add(task.Status.ContainerStatus.ContainerID);
      if (tasks.some((t) => t.Status.State === 'complete')) return;
      const failed = tasks.find((t) => FAILED.has(t.Status.State));
      if (failed) {
        const exitCode = failed.Status.ContainerStatus?.ExitCode;
        throw new CoreflowError('COREFLOW_ERR_BACKUP_JOB', { job: name, ...(exitCode ? { exitCode } : {}), details: `task ${failed.Status.State}: ${failed.Status.Err ?? failed.Status.Message ?? 'no reason given'}` });
      }
      await pause(opts);
    }
  } finally {
    await dockerRequest(docker, { method: 'DELETE', path: `/services/${created.ID}`, signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    // A finished job's container outlives its service and keeps the volume in use: removed
    // here when it is on this node (on another node the lookup fails and it is left to Docker).
    for (const id of containers) {
      await removeJobContainer(docker, id, AbortSignal.timeout(30_000));
    }
  }
}

/** Whether the engine has the image (a container of it can be created without a pull). */
async function imagePresent(docker: Docker, image: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await dockerRequest(docker, { method: 'GET', path: `/images/${encodeURIComponent(image)}/json`, ...(signal ? { signal } : {}) });
    return true;
  } catch (err) {
    if (dockerStatus((err as Error).cause) === 404) return false;
    throw err;
  }
}

/**
 * Runs a job on `req.node`: as a plain container when that is the agent's own node and the image
 * is already there (runLocalJob), else as a Swarm job (runJob; Swarm pulls the image).
 */
export async function runVolumeJob(docker: Docker, req: JobRequest, script: string, readOnly: boolean, opts: JobOptions): Promise<void> {
  const local = req.node === (await localNode(docker, opts.signal)) && (await imagePresent(docker, req.image, opts.signal));
  if (local) return runLocalJob(docker, req.name, jobContainerSpec(req, script, readOnly), opts);
  return runJob(docker, jobServiceSpec(req, script, readOnly), opts);
}

/** The job services and containers (of any node's engine this one sees) labelled for `cluster`; removed. Returns how many. */
export async function removeJobs(docker: Docker, cluster: string, signal?: AbortSignal): Promise<number> {
  const filters = JSON.stringify({ label: [LABEL_BACKUP_JOB, `${LABEL_CLUSTER}=${cluster}`] });
  const s = signal ? { signal } : {};
  const services = await dockerRequest<{ ID: string }[]>(docker, { method: 'GET', path: '/services', query: { filters }, ...s });
  for (const x of services) await dockerRequest(docker, { method: 'DELETE', path: `/services/${x.ID}`, ...s }).catch(() => undefined);
  const containers = await dockerRequest<{ Id: string }[]>(docker, { method: 'GET', path: '/containers/json', query: { all: true, filters }, ...s });
  for (const x of containers) await removeJobContainer(docker, x.Id, signal);
  return services.length + containers.length;
}
