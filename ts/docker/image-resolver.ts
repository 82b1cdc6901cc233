import { createHash } from 'node:crypto';
import { CoreflowError, errorText, isCoreflowError } from '../errors.ts';
import type { RegistrySpec } from '../spec/types.ts';
import { parseImageRef } from './image-ref.ts';
import { RegistryClient } from './registry-client.ts';

/** What a tag pointed at when it was last checked: a digest, or why it could not be read. */
export type Resolution = { digest: string } | { error: CoreflowError };

/** One image to resolve: the reference as deployed (registry host in front) and its registry entry, if any. */
export interface ImageRequest {
  image: string;
  registry?: RegistrySpec;
}

/** The resolutions of one run, looked up by request. */
export interface ImagePins {
  get(image: string, registry?: RegistrySpec): Resolution | undefined;
}

export interface ImageResolverOptions {
  client?: RegistryClient;
  /** A tag is asked again once its answer is this old (default 5 minutes); `expire` asks sooner. */
  intervalMs?: number;
  /** Lookups in flight at once (default 8). */
  concurrency?: number;
  now?: () => number;
}

/** Cache key: the reference and whose credentials ask (a hash of them: the key may be logged by mistake, the password must not). */
function keyOf(image: string, registry?: RegistrySpec): string {
  if (!registry?.username) return `${image}|${registry?.id ?? ''}`;
  const who = createHash('sha256').update(`${registry.username}\0${registry.password ?? ''}`).digest('hex').slice(0, 16);
  return `${image}|${registry.id}|${who}`;
}

interface Entry {
  resolution: Resolution;
  checkedAt: number;
}

/**
 * Resolves image tags to digests, one registry request per distinct image (and credentials)
 * per check, and keeps the answers between checks: a run within `intervalMs` of the last check
 * of a tag reuses its answer. `expire` (the image-check timer, a resync, a redeploy) makes the
 * next run ask again. Failures are kept like answers, so a registry that is down costs one
 * timeout per check, not one per run. Entries of images no run asks for any more are dropped.
 */
export class ImageResolver {
  readonly client: RegistryClient;
  private readonly entries = new Map<string, Entry>();
  private readonly expired = new Set<string>();
  private expiredAll = false;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: ImageResolverOptions = {}) {
    this.client = opts.client ?? new RegistryClient();
    this.intervalMs = opts.intervalMs ?? 300_000;
    this.now = opts.now ?? Date.now;
  }

  /** The next run asks the registry again for these images (all when none are given). */
  expire(images?: readonly string[]): void {
    if (!images) {
      this.expiredAll = true;
      return;
    }
    for (const i of images) this.expired.add(parseImageRef(i).tagged);
  }

  /** Resolves every request (fresh answers from the cache) and returns the run's pins. Never throws. */
  async resolve(requests: readonly ImageRequest[], signal?: AbortSignal): Promise<ImagePins> {
    const wanted = new Map<string, ImageRequest>();
    for (const r of requests) wanted.set(keyOf(r.image, r.registry), r);
    const all = this.expiredAll;
    const expired = new Set(this.expired);
    this.expiredAll = false;
    this.expired.clear();
    const now = this.now();
    const due = [...wanted].filter(([key, r]) => {
      const e = this.entries.get(key);
      return !e || all || expired.has(parseImageRef(r.image).tagged) || now - e.checkedAt >= this.intervalMs;
    });
    const fresh = new Map<string, Resolution>();
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const [key, r] = due[next++]!;
        const resolution = await this.lookup(r, signal);
        fresh.set(key, resolution);
        // An answer cut short by a stopped run is not kept: the next run asks again.
        if (!signal?.aborted) this.entries.set(key, { resolution, checkedAt: this.now() });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 8, due.length) }, worker));
    for (const key of this.entries.keys()) if (!wanted.has(key)) this.entries.delete(key);
    const snapshot = new Map([...wanted.keys()].map((k) => [k, fresh.get(k) ?? this.entries.get(k)!.resolution]));
    return { get: (image, registry) => snapshot.get(keyOf(image, registry)) };
  }

  private async lookup(r: ImageRequest, signal?: AbortSignal): Promise<Resolution> {
    const ref = parseImageRef(r.image);
    const creds = r.registry?.username !== undefined && r.registry.password !== undefined ? { username: r.registry.username, password: r.registry.password } : undefined;
    try {
      return { digest: await this.client.digest(ref, creds, { image: ref.tagged, registry: r.registry?.id ?? ref.host }, signal) };
    } catch (err) {
      return { error: isCoreflowError(err) ? err : new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { image: ref.tagged, registry: r.registry?.id ?? ref.host, details: errorText(err) }) };
    }
  }
}
