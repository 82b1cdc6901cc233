import { setTimeout as delay } from 'node:timers/promises';
import Cloudflare, { APIError } from 'cloudflare';
import { z } from 'zod';
import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { LiveRecord, RecordBody } from './records.ts';
import { decideRetry, RateLimiter, type RetryPolicy } from './request-policy.ts';

export interface CloudflareApiOptions {
  apiToken: string;
  /** Default https://api.cloudflare.com/client/v4 (tests point it at a fake). */
  baseURL?: string;
  /** Minimum spacing between two requests. Default 250 ms (4 per second). */
  minIntervalMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Records per listed page. Default 500. */
  perPage?: number;
  /** Pages listed per zone at most; a zone with more records fails instead of being half-read. Default 20. */
  maxPages?: number;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
}

/** Per call: the run's abort signal and logger. */
export interface CallScope {
  signal: AbortSignal;
  log: Logger;
}

/** The fields of a listed record coreflow reads; the API sends more, which are ignored. */
const apiRecord = z.looseObject({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  content: z.string().default(''),
  ttl: z.number().default(1),
  proxied: z.boolean().optional(),
  priority: z.number().optional(),
  comment: z.string().nullable().optional(),
});

const apiZone = z.looseObject({ id: z.string(), name: z.string() });

/**
 * The Cloudflare DNS calls coreflow makes, over the official SDK, with its own policy around
 * every request: one rate limiter, bounded retries (the SDK's own retries are off: it would
 * wait out any Retry-After, however long), bounded listing (the SDK's iterators would fetch
 * until an empty page) and errors as COREFLOW_ERR_DNS_API carrying the API's messages. The
 * token is only ever in the SDK's Authorization header; error texts are scrubbed of it anyway.
 */
export class CloudflareDns {
  private readonly client: Cloudflare;
  private readonly limiter: RateLimiter;
  private readonly retry: RetryPolicy;
  private readonly perPage: number;
  private readonly maxPages: number;
  /** Calls that change records (create, update, delete), for tests and metrics. */
  writes = 0;
  reads = 0;

  constructor(private readonly opts: CloudflareApiOptions) {
    this.client = new Cloudflare({
      apiToken: opts.apiToken,
      apiKey: null,
      apiEmail: null,
      userServiceKey: null,
      // Explicit, so the SDK's own CLOUDFLARE_BASE_URL lookup never redirects the calls.
      baseURL: opts.baseURL ?? 'https://api.cloudflare.com/client/v4',
      maxRetries: 0,
      timeout: opts.timeoutMs ?? 30_000,
      logLevel: 'off',
    });
    this.limiter = new RateLimiter(opts.minIntervalMs ?? 250);
    this.retry = { maxAttempts: 4, maxRetryAfterMs: 60_000, baseBackoffMs: 500, ...opts.retry };
    this.perPage = opts.perPage ?? 500;
    this.maxPages = opts.maxPages ?? 20;
  }

  /** The id of the zone with exactly this name; COREFLOW_ERR_DNS_ZONE_NOT_FOUND when the token cannot see it. */
  async findZoneId(name: string, scope: CallScope): Promise<string> {
    const page = await this.call(`find zone ${name}`, scope, false, (o) => this.client.zones.list({ name, per_page: 50 }, o));
    const zones = z.array(apiZone).parse(page.result);
    const zone = zones.find((zn) => zn.name.toLowerCase() === name);
    if (!zone) throw new CoreflowError('COREFLOW_ERR_DNS_ZONE_NOT_FOUND', { zone: name });
    return zone.id;
  }

  /** Every record of the zone, page by page up to maxPages; more than that fails (never half a zone). */
  async listRecords(zone: { name: string; id: string }, scope: CallScope): Promise<LiveRecord[]> {
    const out: LiveRecord[] = [];
    for (let page = 1; ; page++) {
      const res = await this.call(`list records of zone ${zone.name}`, scope, false, (o) =>
        this.client.dns.records.list({ zone_id: zone.id, page, per_page: this.perPage }, o),
      );
      const parsed = z.array(apiRecord).safeParse(res.result);
      if (!parsed.success) {
        throw new CoreflowError('COREFLOW_ERR_DNS_API', { operation: `list records of zone ${zone.name}`, status: 'bad response', details: parsed.error.issues[0]?.message ?? 'unexpected record shape' });
      }
      for (const r of parsed.data) {
        out.push({
          id: r.id,
          zone: zone.name,
          zoneId: zone.id,
          type: r.type,
          name: r.name,
          content: r.content,
          ttl: r.ttl,
          ...(r.proxied !== undefined ? { proxied: r.proxied } : {}),
          ...(r.priority !== undefined ? { priority: r.priority } : {}),
          comment: r.comment ?? null,
        });
      }
      // The SDK types result_info as {page, per_page}; the API also sends total_pages.
      const totalPages = (res.result_info as { total_pages?: unknown } | undefined)?.total_pages;
      const done = parsed.data.length < this.perPage || (typeof totalPages === 'number' && page >= totalPages);
      if (done) return out;
      if (page >= this.maxPages) {
        throw new CoreflowError('COREFLOW_ERR_DNS_LISTING_TRUNCATED', { zone: zone.name, max: this.maxPages * this.perPage, pages: this.maxPages, perPage: this.perPage });
      }
    }
  }

  async createRecord(zoneId: string, body: RecordBody, scope: CallScope): Promise<void> {
    await this.call(`create ${body.type} ${body.name}`, scope, true, (o) =>
      this.client.dns.records.create({ zone_id: zoneId, ...body } as Cloudflare.DNS.RecordCreateParams, o),
    );
  }

  /** Overwrites the record (PUT), comment included. */
  async updateRecord(zoneId: string, id: string, body: RecordBody, scope: CallScope): Promise<void> {
    await this.call(`update ${body.type} ${body.name}`, scope, true, (o) =>
      this.client.dns.records.update(id, { zone_id: zoneId, ...body } as Cloudflare.DNS.RecordUpdateParams, o),
    );
  }

  async deleteRecord(zoneId: string, id: string, label: string, scope: CallScope): Promise<void> {
    await this.call(`delete ${label}`, scope, true, (o) => this.client.dns.records.delete(id, { zone_id: zoneId }, o));
  }

  /** One request under the rate limiter and the retry policy. */
  private async call<T>(operation: string, scope: CallScope, write: boolean, fn: (o: { signal: AbortSignal }) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (scope.signal.aborted) throw new CoreflowError('COREFLOW_ERR_DNS_API', { operation, status: 'aborted', details: 'the run was stopped' });
      await this.limiter.take(scope.signal);
      if (write) this.writes++;
      else this.reads++;
      try {
        return await fn({ signal: scope.signal });
      } catch (err) {
        if (scope.signal.aborted) throw new CoreflowError('COREFLOW_ERR_DNS_API', { operation, status: 'aborted', details: 'the run was stopped' });
        const status = err instanceof APIError ? err.status : undefined;
        const retryAfter = err instanceof APIError ? err.headers?.get('retry-after') : undefined;
        const decision = decideRetry(this.retry, attempt, status, retryAfter);
        const details = this.describe(err);
        if (!decision.retry) {
          throw new CoreflowError('COREFLOW_ERR_DNS_API', { operation, status: status ?? 'no response', details });
        }
        scope.log.warn({ operation, attempt, waitMs: decision.waitMs, status, details }, `Cloudflare ${decision.why}; retrying`);
        await delay(decision.waitMs, undefined, { signal: scope.signal }).catch(() => undefined);
      }
    }
  }

  /** The API's own messages (`Record already exists. (code 81057)`), scrubbed of the token. */
  private describe(err: unknown): string {
    let text: string;
    if (err instanceof APIError && err.errors.length > 0) {
      text = err.errors.map((e) => `${e.message ?? 'error'}${e.code !== undefined ? ` (code ${e.code})` : ''}`).join('; ');
    } else {
      const cause = err instanceof Error && err.cause ? `: ${errorText(err.cause)}` : '';
      text = `${errorText(err)}${cause}`;
    }
    return this.opts.apiToken ? text.split(this.opts.apiToken).join('[redacted]') : text;
  }
}
