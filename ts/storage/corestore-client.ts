import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { decideRetry, type RetryPolicy } from '../dns/request-policy.ts';
import { CoreflowError, errorText } from '../errors.ts';
import { BINDING_TYPES, type BindingOwner, type BindingRequest, type BindingType, type PlatformProvider, type ProviderScope, type ProvisionedBinding } from './platform-provider.ts';

/** The default control URL: the corestore base service, over the internal overlay network. */
export const DEFAULT_CORESTORE_URL = 'http://corestore:3000';

export interface CorestoreClientOptions {
  /** Base URL of the control API (default http://corestore:3000); paths start with /v1. */
  baseUrl?: string;
  /** The API token, read at every call so a rotated file is picked up; undefined fails with COREFLOW_ERR_CORESTORE_NO_TOKEN. */
  token: () => Promise<string | undefined>;
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  /** Default: 4 attempts, backoff from 500 ms (doubling, capped at 8 s), a 429's Retry-After up to 30 s. */
  retry?: Partial<RetryPolicy>;
}

/** One request of the control API; `body` is sent as JSON. */
export interface CorestoreRequest<T> {
  /** For errors and logs: "provision database orders". */
  operation: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  /** Parses a 2xx answer's JSON (not called for 204). */
  parse?: z.ZodType<T>;
  /** Statuses answered as `undefined` instead of an error (e.g. 404 on a release). */
  okStatuses?: number[];
}

const owner = z.object({ cluster: z.string(), service: z.string() });

export const bindingSchema = z.looseObject({
  type: z.enum(BINDING_TYPES),
  name: z.string(),
  owner,
  id: z.string(),
  state: z.enum(['ready', 'provisioning', 'failed']),
  endpoint: z.string(),
  credentialRef: z.string(),
  message: z.string().optional(),
  env: z.record(z.string(), z.string()),
});

const errorBody = z.looseObject({ error: z.looseObject({ code: z.string(), message: z.string() }) });

/**
 * The Corestore control API (docs/corestore.md) as a PlatformProvider. Every request has a
 * deadline (timeoutMs and the run's signal), carries the token as a bearer header, and is retried
 * with the project's exponential backoff when it got no answer, a 5xx or a 429. Errors:
 * COREFLOW_ERR_CORESTORE_UNREACHABLE (no answer), COREFLOW_ERR_CORESTORE_API (5xx, bad answer),
 * COREFLOW_ERR_CORESTORE_REFUSED (other 4xx), COREFLOW_ERR_BINDING_NAME_IN_USE (409 name_in_use).
 * The token and credential values are never in an error text or a log line.
 */
export class CorestoreClient implements PlatformProvider {
  readonly name = 'corestore';
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  /** Requests sent by method, for tests and metrics. */
  readonly calls = { reads: 0, writes: 0 };

  constructor(private readonly opts: CorestoreClientOptions) {
    this.baseUrl = (opts.baseUrl ?? DEFAULT_CORESTORE_URL).replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.retry = { maxAttempts: 4, maxRetryAfterMs: 30_000, baseBackoffMs: 500, ...opts.retry };
  }

  async list(cluster: string, scope: ProviderScope): Promise<ProvisionedBinding[]> {
    const res = await this.request(
      { operation: `list bindings of cluster ${cluster}`, method: 'GET', path: `/v1/bindings?cluster=${encodeURIComponent(cluster)}`, parse: z.object({ bindings: z.array(bindingSchema) }) },
      scope,
    );
    return (res?.bindings ?? []).map(toBinding);
  }

  async provision(req: BindingRequest, scope: ProviderScope): Promise<ProvisionedBinding> {
    const res = await this.request(
      { operation: `provision ${req.type} ${req.name}`, method: 'PUT', path: bindingPath(req.type, req.name), body: { owner: req.owner, options: req.options }, parse: bindingSchema },
      scope,
    );
    if (!res) throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation: `provision ${req.type} ${req.name}`, status: 'bad response', details: 'empty answer' });
    return toBinding(res);
  }

  async release(b: { type: BindingType; name: string; owner: BindingOwner }, scope: ProviderScope): Promise<void> {
    const q = `?cluster=${encodeURIComponent(b.owner.cluster)}&service=${encodeURIComponent(b.owner.service)}`;
    await this.request({ operation: `release ${b.type} ${b.name}`, method: 'DELETE', path: `${bindingPath(b.type, b.name)}${q}`, okStatuses: [404] }, scope);
  }

  /**
   * One request under the retry policy: the building block of every endpoint (bindings here;
   * snapshots and restores can be added the same way). Returns the parsed body, or undefined for
   * 204 and `okStatuses`.
   */
  async request<T>(req: CorestoreRequest<T>, scope: ProviderScope): Promise<T | undefined> {
    const token = await this.opts.token();
    if (!token) throw new CoreflowError('COREFLOW_ERR_CORESTORE_NO_TOKEN', { operation: req.operation });
    for (let attempt = 1; ; attempt++) {
      if (scope.signal.aborted) throw this.aborted(req.operation);
      if (req.method === 'GET') this.calls.reads++;
      else this.calls.writes++;
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}${req.path}`, {
          method: req.method,
          headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
          signal: AbortSignal.any([scope.signal, AbortSignal.timeout(this.timeoutMs)]),
        });
      } catch (err) {
        if (scope.signal.aborted) throw this.aborted(req.operation);
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        const details = scrub(timedOut ? `no answer within ${this.timeoutMs} ms` : causeText(err), token);
        const decision = decideRetry(this.retry, attempt, undefined, null);
        if (!decision.retry) throw new CoreflowError('COREFLOW_ERR_CORESTORE_UNREACHABLE', { url: this.baseUrl, operation: req.operation, details });
        await this.wait(req.operation, attempt, decision.waitMs, 'no answer', details, scope);
        continue;
      }
      if (res.ok || req.okStatuses?.includes(res.status)) return this.parse(req, res, token);
      const details = scrub(await errorDetails(res), token);
      if (res.status === 409) {
        throw new CoreflowError('COREFLOW_ERR_BINDING_NAME_IN_USE', { operation: req.operation, details });
      }
      const decision = decideRetry(this.retry, attempt, res.status, res.headers.get('retry-after'));
      if (!decision.retry) {
        if (res.status >= 500 || res.status === 429) throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation: req.operation, status: res.status, details });
        throw new CoreflowError('COREFLOW_ERR_CORESTORE_REFUSED', { operation: req.operation, status: res.status, details });
      }
      await this.wait(req.operation, attempt, decision.waitMs, decision.why, details, scope);
    }
  }

  private async parse<T>(req: CorestoreRequest<T>, res: Response, token: string): Promise<T | undefined> {
    if (!res.ok || res.status === 204 || !req.parse) {
      await res.body?.cancel();
      return undefined;
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation: req.operation, status: res.status, details: `the answer is not JSON: ${scrub(errorText(err), token)}` });
    }
    const parsed = req.parse.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      // The path and message only: the answer holds credentials.
      const details = issue ? `unexpected answer at ${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unexpected answer';
      throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation: req.operation, status: res.status, details });
    }
    return parsed.data;
  }

  private async wait(operation: string, attempt: number, waitMs: number, why: string, details: string, scope: ProviderScope): Promise<void> {
    scope.log.warn({ operation, attempt, waitMs, details }, `Corestore ${why}; retrying`);
    await delay(waitMs, undefined, { signal: scope.signal }).catch(() => undefined);
  }

  private aborted(operation: string): CoreflowError {
    return new CoreflowError('COREFLOW_ERR_CORESTORE_UNREACHABLE', { url: this.baseUrl, operation, details: 'the run was stopped' });
  }
}

function bindingPath(type: BindingType, name: string): string {
  return `/v1/bindings/${encodeURIComponent(type)}/${encodeURIComponent(name)}`;
}

function toBinding(b: z.output<typeof bindingSchema>): ProvisionedBinding {
  return {
    type: b.type,
    name: b.name,
    owner: { cluster: b.owner.cluster, service: b.owner.service },
    id: b.id,
    state: b.state,
    endpoint: b.endpoint,
    credentialRef: b.credentialRef,
    ...(b.message !== undefined ? { message: b.message } : {}),
    env: { ...b.env },
  };
}

/** The API's error (`name_in_use: ...`), or the status text when the body is not the documented shape. */
async function errorDetails(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = errorBody.safeParse(JSON.parse(text));
    if (parsed.success) return `${parsed.data.error.code}: ${parsed.data.error.message}`;
  } catch {
    // not JSON
  }
  return res.statusText || `HTTP ${res.status}`;
}

function causeText(err: unknown): string {
  const cause = err instanceof Error && err.cause ? `: ${errorText(err.cause)}` : '';
  return `${errorText(err)}${cause}`;
}

function scrub(text: string, token: string): string {
  return text.split(token).join('[redacted]');
}
