import { CoreflowError, errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { SerialQueue } from '../serial-queue.ts';
import { caddyConfig, caddyMarker } from './caddy-config.ts';
import type { RouteEntry } from './types.ts';

export interface CaddySinkOptions {
  adminUrl: string;
  httpListen: string;
  httpsListen: string;
  log: Logger;
  timeoutMs?: number;
  /**
   * How often an unchanged table is checked to still be in Caddy (one GET): a restarted Caddy
   * comes back with its boot config and is loaded again.
   */
  verifyEveryMs?: number;
}

/**
 * Loads the route table into Caddy with `POST /load`, only when its hash differs from the last
 * table Caddy accepted (or Caddy lost it: checked every verifyEveryMs). Before the first load it reads Caddy's `admin` block and keeps it in
 * every config, so the admin API stays where it is. A failed load is logged (Caddy's message,
 * never the config, which holds private keys) and retried at the next publish.
 */
export class CaddySink {
  private loadedHash: string | undefined;
  private admin: unknown;
  private adminRead = false;
  private readonly queue = new SerialQueue();
  private verifiedAt = 0;

  constructor(private readonly opts: CaddySinkOptions) {}

  /** The hash of the table Caddy runs now (undefined before the first successful load). */
  get hash(): string | undefined {
    return this.loadedHash;
  }

  /** Serialised: two publishes never race on Caddy. */
  publish(routes: RouteEntry[], hash: string): Promise<void> {
    return this.queue.run(() => this.load(routes, hash));
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(new URL(path, this.opts.adminUrl), {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
    });
  }

  /** Whether Caddy still runs the loaded table; checked at most every verifyEveryMs. */
  private async stillLoaded(hash: string): Promise<boolean> {
    if (Date.now() - this.verifiedAt < (this.opts.verifyEveryMs ?? 30_000)) return true;
    const res = await this.call('GET', `/id/${caddyMarker(hash)}`).catch(() => undefined);
    await res?.arrayBuffer().catch(() => undefined);
    if (res?.ok) {
      this.verifiedAt = Date.now();
      return true;
    }
    this.opts.log.warn({ hash, status: res?.status ?? 'unreachable' }, 'Caddy no longer runs the route table (restarted or changed by someone else); loading it again');
    return false;
  }

  private async load(routes: RouteEntry[], hash: string): Promise<void> {
    if (hash === this.loadedHash && (await this.stillLoaded(hash))) return;
    this.loadedHash = undefined;
    const { log } = this.opts;
    const started = Date.now();
    try {
      if (!this.adminRead) {
        const res = await this.call('GET', '/config/admin');
        if (!res.ok) throw new Error(`GET /config/admin answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
        this.admin = await res.json();
        this.adminRead = true;
      }
      const config = caddyConfig(routes, { httpListen: this.opts.httpListen, httpsListen: this.opts.httpsListen, admin: this.admin, marker: caddyMarker(hash) });
      const res = await this.call('POST', '/load', config);
      if (!res.ok) throw new Error(`POST /load answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
      this.loadedHash = hash;
      this.verifiedAt = Date.now();
      log.info({ hash, routes: routes.length, ms: Date.now() - started }, 'route table loaded into Caddy');
    } catch (err) {
      const e = new CoreflowError('COREFLOW_ERR_CADDY_LOAD', { adminUrl: this.opts.adminUrl, details: errorText(err) });
      log.warn({ code: e.code, err: e.message }, 'route table not loaded into Caddy; retried at the next publish');
    }
  }
}
