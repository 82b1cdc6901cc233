import Docker from 'dockerode';
import { CoreflowError, errorText } from '../errors.ts';
import { ApiCallCounter, operationOf } from './api-calls.ts';

/** The newest Engine API version coreflow was written against; newer engines are asked for this one. */
export const MAX_API_VERSION = '1.47';
/** The oldest Engine API version coreflow supports (Docker 20.10). */
export const MIN_API_VERSION = '1.41';

export interface DockerConnection {
  docker: Docker;
  calls: ApiCallCounter;
  /** The API version in use, e.g. "1.41". */
  apiVersion: string;
  /** Where it connects, for messages: "unix:///var/run/docker.sock" or "tcp://host:2376". */
  endpoint: string;
  /** Aborts every request in flight, streams included, and every later one: the agent is stopping. */
  close(): void;
}

function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

export interface ConnectOptions {
  /** A unix socket path or a DOCKER_HOST-style URL; defaults to DOCKER_HOST, then /var/run/docker.sock. */
  host?: string;
  /** A request without an answer after this long fails (COREFLOW_DOCKER_TIMEOUT_MS). Default 30 s. */
  timeoutMs?: number;
}

const DEFAULT_DOCKER_TIMEOUT_MS = 30_000;

interface DialOptions {
  method: string;
  path: string;
  isStream?: boolean;
  abortSignal?: AbortSignal;
}

function dockerOptions(host: string | undefined): { options: Docker.DockerOptions; endpoint: string } {
  const h = host ?? process.env.DOCKER_HOST;
  if (!h) return { options: { socketPath: '/var/run/docker.sock' }, endpoint: 'unix:///var/run/docker.sock' };
  if (h.startsWith('unix://')) return { options: { socketPath: h.slice(7) }, endpoint: h };
  if (h.startsWith('/')) return { options: { socketPath: h }, endpoint: `unix://${h}` };
  const url = new URL(h.replace(/^tcp:/, 'http:'));
  return { options: { host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' }, endpoint: h };
}

/**
 * Wraps the modem so every request is counted with its outcome and has a deadline: a request
 * (not a stream such as /events) without an answer after `timeoutMs` is aborted and fails with
 * COREFLOW_ERR_DOCKER_UNREACHABLE, whatever signal the caller passed as well (the run's).
 * Returns `close`: it aborts every request in flight, streams included, and every later one.
 */
function instrument(docker: Docker, calls: ApiCallCounter, endpoint: string, timeoutMs: number): () => void {
  const modem = docker.modem as unknown as { dial: (opts: DialOptions, cb: (err: unknown, data: unknown) => void) => void };
  const dial = modem.dial.bind(modem);
  const inFlight = new Set<AbortController>();
  let closed = false;
  modem.dial = (opts, cb) => {
    const operation = operationOf(opts.method, opts.path);
    const deadline = opts.isStream ? undefined : AbortSignal.timeout(timeoutMs);
    const own = new AbortController();
    if (closed) own.abort();
    inFlight.add(own);
    opts.abortSignal = AbortSignal.any([own.signal, ...(opts.abortSignal ? [opts.abortSignal] : []), ...(deadline ? [deadline] : [])]);
    dial(opts, (err, data) => {
      inFlight.delete(own);
      const status = err ? Number((err as { statusCode?: number }).statusCode ?? 0) : 200;
      calls.record({ operation, method: opts.method, status });
      if (err && deadline?.aborted) {
        cb(new CoreflowError('COREFLOW_ERR_DOCKER_UNREACHABLE', { endpoint, details: `no answer to ${operation} within ${timeoutMs} ms` }, { cause: err }), null);
      } else cb(err, data);
    });
  };
  return () => {
    closed = true;
    for (const c of inFlight) c.abort();
  };
}

/**
 * Connects to the Engine, negotiates the API version (the engine's, capped at MAX_API_VERSION)
 * and checks that it is a swarm manager. Throws COREFLOW_ERR_DOCKER_UNREACHABLE or
 * COREFLOW_ERR_NOT_SWARM_MANAGER with the fix in the message.
 */
export async function connectDocker(opts: ConnectOptions = {}): Promise<DockerConnection> {
  const { options, endpoint } = dockerOptions(opts.host);
  const docker = new Docker(options);
  const calls = new ApiCallCounter();
  const close = instrument(docker, calls, endpoint, opts.timeoutMs ?? DEFAULT_DOCKER_TIMEOUT_MS);
  // Both at once, unversioned (the engine answers /info in its own version): the swarm fields read
  // here are the same in every version coreflow supports.
  let engineVersion: string;
  let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
  try {
    const [v, i] = await Promise.all([docker.version(), docker.info()]);
    engineVersion = v.ApiVersion;
    info = i;
  } catch (err) {
    if (err instanceof CoreflowError) throw err;
    throw new CoreflowError('COREFLOW_ERR_DOCKER_UNREACHABLE', { endpoint, details: errorText(err) }, { cause: err });
  }
  if (compareVersions(engineVersion, MIN_API_VERSION) < 0) {
    throw new CoreflowError('COREFLOW_ERR_DOCKER_UNREACHABLE', {
      endpoint,
      details: `the engine speaks API ${engineVersion}; coreflow needs ${MIN_API_VERSION} (Docker 20.10) or newer`,
    });
  }
  const apiVersion = compareVersions(engineVersion, MAX_API_VERSION) > 0 ? MAX_API_VERSION : engineVersion;
  (docker.modem as unknown as { version: string }).version = `v${apiVersion}`;
  const state = info.Swarm?.LocalNodeState ?? 'unknown';
  if (state !== 'active' || info.Swarm?.ControlAvailable !== true) {
    throw new CoreflowError('COREFLOW_ERR_NOT_SWARM_MANAGER', { endpoint, state: state === 'active' ? 'active, worker' : state });
  }
  calls.reset();
  return { docker, calls, apiVersion, endpoint, close };
}
