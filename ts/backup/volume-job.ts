import type Docker from 'dockerode';
import { CoreflowError } from '../errors.ts';
import type { RawTask } from '../docker/raw-types.ts';
import { dockerRequest } from '../docker/request.ts';

/** On every job service: the backup or restore it belongs to. Such services are not workloads. */
export const LABEL_BACKUP_JOB = 'coreflow.backup-job';

/** Where a job mounts the volume it works on. */
const MOUNT = '/volume';

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
}

/**
 * The snapshot task: tar of the volume (mounted read-only) streamed through nc to the agent as
 * the body of an HTTP upgrade request; no temporary file, no buffering. The agent answers 201 once
 * the archive is stored; any other answer, or tar failing, fails the task.
 */
export const SNAPSHOT_SCRIPT = [
  'set -e -o pipefail',
  `est=$(busybox du -sk ${MOUNT} | busybox cut -f1)`,
  `answer=$({ printf 'POST %s HTTP/1.1\\r\\nHost: %s\\r\\nAuthorization: Bearer %s\\r\\nConnection: Upgrade\\r\\nUpgrade: coreflow-archive\\r\\nX-Coreflow-Estimate-Kib: %s\\r\\n\\r\\n' "$CF_PATH" "$CF_HOST" "$CF_TOKEN" "$est"; busybox tar -C ${MOUNT} -cf - .; } | busybox nc "$CF_HOST" "$CF_PORT")`,
  'case "$answer" in "HTTP/1.1 201"*) exit 0;; esac',
  'echo "the agent did not store the archive: $answer" >&2',
  'exit 1',
].join('\n');

/**
 * The restore task: the archive is fetched and unpacked into a staging folder inside the volume;
 * only once all of it is unpacked are the old contents moved aside and the new ones moved in
 * (renames within the volume), so a failed download or unpack leaves the previous data in place.
 */
export const RESTORE_SCRIPT = [
  'set -e -o pipefail',
  `cd ${MOUNT}`,
  'stage=.coreflow-restore; old=.coreflow-previous',
  'busybox rm -rf "$stage" "$old"; busybox mkdir "$stage"',
  'if ! busybox wget -q -O - --header "Authorization: Bearer $CF_TOKEN" "http://$CF_HOST:$CF_PORT$CF_PATH" | busybox tar -x -C "$stage"; then',
  '  busybox rm -rf "$stage"; echo "cannot fetch or unpack the archive" >&2; exit 1',
  'fi',
  'busybox mkdir "$old"',
  'for f in * .[!.]* ..?*; do',
  '  case "$f" in "$stage"|"$old") continue;; esac',
  '  if [ -e "$f" ] || [ -L "$f" ]; then busybox mv "$f" "$old"/; fi',
  'done',
  'for f in "$stage"/* "$stage"/.[!.]* "$stage"/..?*; do',
  '  if [ -e "$f" ] || [ -L "$f" ]; then busybox mv "$f" .; fi',
  'done',
  'busybox rmdir "$stage"; busybox rm -rf "$old"',
].join('\n');

/** Pure. The Engine API body of a one-off job service (replicated-job, one completion, no restart). */
export function jobServiceSpec(req: JobRequest, script: string, readOnly: boolean): Record<string, unknown> {
  return {
    Name: req.name,
    Labels: req.labels,
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
    TaskTemplate: {
      ContainerSpec: {
        Image: req.image,
        Command: ['sh', '-c', script],
        Env: [`CF_HOST=${req.endpoint.host}`, `CF_PORT=${req.endpoint.port}`, `CF_PATH=${req.path}`, `CF_TOKEN=${req.token}`],
        Mounts: [{ Type: 'volume', Source: req.volume, Target: MOUNT, ...(readOnly ? { ReadOnly: true } : {}), ...(req.volumeOptions ? { VolumeOptions: req.volumeOptions } : {}) }],
        Labels: req.labels,
      },
      Placement: { Constraints: [`node.id==${req.node}`] },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Networks: [{ Target: req.endpoint.network }],
    },
  };
}

const FAILED = new Set(['failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

/**
 * Creates the job service, waits for its task to complete, and removes the service (and its
 * container, when it is on the agent's node) whatever happened. A task that fails, or no completion within `timeoutMs`, is COREFLOW_ERR_BACKUP_JOB
 * with Docker's reason. `stopped` settles early when the transfer failed on the agent's side.
 */
export async function runJob(
  docker: Docker,
  spec: Record<string, unknown>,
  opts: { signal?: AbortSignal; timeoutMs: number; pollMs?: number; stopped?: Promise<unknown> },
): Promise<void> {
  const name = String(spec.Name);
  const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) : AbortSignal.timeout(opts.timeoutMs);
  const created = await dockerRequest<{ ID: string }>(docker, { method: 'POST', path: '/services/create', body: spec, signal });
  let failedEarly: unknown;
  const containers = new Set<string>();
  opts.stopped?.catch((err: unknown) => (failedEarly = err));
  try {
    const filters = JSON.stringify({ service: [created.ID] });
    for (;;) {
      if (failedEarly) throw failedEarly;
      if (signal.aborted) throw new CoreflowError('COREFLOW_ERR_BACKUP_JOB', { job: name, details: `no completion within ${opts.timeoutMs} ms` });
      const tasks = await dockerRequest<RawTask[]>(docker, { method: 'GET', path: '/tasks', query: { filters }, signal });
      for (const task of tasks) if (task.Status.ContainerStatus?.ContainerID) containers.add(task.Status.ContainerStatus.ContainerID);
      if (tasks.some((t) => t.Status.State === 'complete')) return;
      const failed = tasks.find((t) => FAILED.has(t.Status.State));
      if (failed) throw new CoreflowError('COREFLOW_ERR_BACKUP_JOB', { job: name, details: `task ${failed.Status.State}: ${failed.Status.Err ?? failed.Status.Message ?? 'no reason given'}` });
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    }
  } finally {
    await dockerRequest(docker, { method: 'DELETE', path: `/services/${created.ID}`, signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    // A finished job's container outlives its service and keeps the volume in use: removed
    // here when it is on this node (on another node the lookup fails and it is left to Docker).
    for (const id of containers) {
      await dockerRequest(docker, { method: 'DELETE', path: `/containers/${id}`, query: { force: true }, signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
    }
  }
}
