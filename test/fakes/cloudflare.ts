import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';

/**
 * A fake of the Cloudflare v4 API for the parts coreflow uses, on a real HTTP server on port 0:
 * zones (list, get) and DNS records (list, create, overwrite, patch, delete). It behaves like the
 * real API where coreflow depends on it: bearer auth, the envelope
 * `{success, errors:[{code,message}], messages, result, result_info}`, page/per_page paging with
 * result_info (a page past the end is empty, as the SDK's iterators expect), names normalised to
 * lower-case FQDNs, proxied records forced to TTL 1, the same error codes for identical or
 * clashing records, and injectable failures (429 with Retry-After, 5xx). test/fakes/cloudflare.test.ts
 * checks it, also through the official SDK.
 */

export interface FakeZone {
  id: string;
  name: string;
  status: 'active';
}

export interface FakeRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  proxiable: boolean;
  comment: string | null;
  priority?: number;
  tags: string[];
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
  created_on: string;
  modified_on: string;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** Milliseconds since the epoch when the request arrived. */
  at: number;
  authorization?: string;
}

export interface InjectedFailure {
  status: number;
  /** Retry-After header in seconds (429). */
  retryAfter?: number;
  /** How many matching requests fail (default 1). */
  times?: number;
  method?: string;
  /** Matched against the path after /client/v4. */
  path?: RegExp;
  errors?: { code: number; message: string }[];
}

type Body = Record<string, unknown>;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const TYPES = new Set(['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'NS', 'CAA', 'SRV']);
const PROXIABLE = new Set(['A', 'AAAA', 'CNAME']);
const ADDRESS = new Set(['A', 'AAAA', 'CNAME']);

function hexId(): string {
  return randomBytes(16).toString('hex');
}

export class FakeCloudflare {
  readonly requests: FakeRequest[] = [];
  private readonly zones: FakeZone[] = [];
  private readonly recordList: FakeRecord[] = [];
  private readonly failures: (InjectedFailure & { left: number })[] = [];
  private server: Server | undefined;
  private port = 0;

  constructor(readonly token: string = `cf-test-${hexId()}`) {}

  static async start(token?: string): Promise<FakeCloudflare> {
    const fake = new FakeCloudflare(token);
    await fake.listen();
    return fake;
  }

  /** The base URL to give the SDK (`baseURL`). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/client/v4`;
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  addZone(name: string): FakeZone {
    const zone: FakeZone = { id: hexId(), name: name.toLowerCase(), status: 'active' };
    this.zones.push(zone);
    return zone;
  }

  /** Seeds a record as if someone had made it (no request is logged). */
  addRecord(zoneName: string, r: { type: string; name: string; content: string; ttl?: number; proxied?: boolean; comment?: string; priority?: number }): FakeRecord {
    const zone = this.zones.find((z) => z.name === zoneName);
    if (!zone) throw new Error(`no zone ${zoneName}`);
    return this.insert(zone, r as unknown as Body);
  }

  /** Records of one zone (or all), in creation order. */
  records(zoneName?: string): FakeRecord[] {
    return this.recordList.filter((r) => zoneName === undefined || r.zone_name === zoneName);
  }

  /** Requests that change something (POST, PUT, PATCH, DELETE). */
  writes(): FakeRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  inject(f: InjectedFailure): void {
    this.failures.push({ ...f, left: f.times ?? 1 });
  }

  /** Drops the failures not yet used up. */
  clearFailures(): void {
    this.failures.length = 0;
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private fail(res: ServerResponse, status: number, errors: { code: number; message: string }[], headers: Record<string, string> = {}): void {
    this.send(res, status, { success: false, errors, messages: [], result: null }, headers);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const method = req.method ?? 'GET';
    const entry: FakeRequest = { method, path: url.pathname, query, status: 0, at: Date.now(), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
    this.requests.push(entry);
    const respond = (status: number, body: unknown, headers?: Record<string, string>) => {
      entry.status = status;
      this.send(res, status, body, headers);
    };
    try {
      const raw = await new Promise<string>((resolve, reject) => {
        let data = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (data += c));
        req.on('end', () => resolve(data));
        req.on('error', reject);
      });
      if (!url.pathname.startsWith('/client/v4/')) throw new ApiError(404, 7000, 'No route for that URI');
      const path = url.pathname.slice('/client/v4'.length);
      const auth = req.headers.authorization;
      if (!auth) throw new ApiError(400, 9106, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers');
      if (auth !== `Bearer ${this.token}`) throw new ApiError(401, 1000, 'Invalid API Token');
      const failure = this.failures.find((f) => f.left > 0 && (!f.method || f.method === method) && (!f.path || f.path.test(path)));
      if (failure) {
        failure.left--;
        entry.status = failure.status;
        const errors = failure.errors ?? [failure.status === 429 ? { code: 971, message: 'Please wait and consider throttling your request speed' } : { code: 10000, message: 'Internal server error' }];
        this.fail(res, failure.status, errors, failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {});
        return;
      }
      let body: Body = {};
      if (raw !== '') {
        try {
          body = JSON.parse(raw) as Body;
        } catch {
          throw new ApiError(400, 9207, 'Request body is invalid.');
        }
      }
      const out = this.route(method, path, query, body);
      respond(200, { success: true, errors: [], messages: [], ...out });
    } catch (err) {
      if (err instanceof ApiError) {
        entry.status = err.status;
        this.fail(res, err.status, [{ code: err.code, message: err.message }]);
      } else {
        entry.status = 500;
        this.fail(res, 500, [{ code: 10000, message: String(err) }]);
      }
    }
  }

  private page<T>(items: T[], query: Record<string, string>, perPageDefault: number, perPageMax: number): { result: T[]; result_info: Record<string, number> } {
    const page = Math.max(1, Number(query.page ?? 1) || 1);
    const perPage = Math.min(perPageMax, Math.max(5, Number(query.per_page ?? perPageDefault) || perPageDefault));
    const result = items.slice((page - 1) * perPage, page * perPage);
    return {
      result,
      result_info: { page, per_page: perPage, count: result.length, total_count: items.length, total_pages: Math.max(1, Math.ceil(items.length / perPage)) },
    };
  }

  private zone(id: string, path: string): FakeZone {
    const zone = this.zones.find((z) => z.id === id);
    if (!zone) throw new ApiError(400, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
    return zone;
  }

  private route(method: string, path: string, query: Record<string, string>, body: Body): Record<string, unknown> {
    if (method === 'GET' && path === '/zones') {
      const name = query.name?.toLowerCase();
      return this.page(this.zones.filter((z) => !name || z.name === name), query, 20, 50);
    }
    let m = /^\/zones\/([^/]+)$/.exec(path);
    if (m && method === 'GET') return { result: this.zone(m[1]!, path) };
    m = /^\/zones\/([^/]+)\/dns_records$/.exec(path);
    if (m) {
      const zone = this.zone(m[1]!, path);
      if (method === 'GET') {
        const name = (query.name ?? query['name.exact'])?.toLowerCase();
        const items = this.recordList.filter((r) => r.zone_id === zone.id && (!name || r.name === name) && (!query.type || r.type === query.type));
        return this.page(items, query, 100, 5_000_000);
      }
      if (method === 'POST') return { result: this.insert(zone, body) };
    }
    m = /^\/zones\/([^/]+)\/dns_records\/([^/]+)$/.exec(path);
    if (m) {
      const zone = this.zone(m[1]!, path);
      const rec = this.recordList.find((r) => r.zone_id === zone.id && r.id === m![2]);
      if (!rec) throw new ApiError(404, 81044, 'Record does not exist.');
      if (method === 'GET') return { result: rec };
      if (method === 'DELETE') {
        this.recordList.splice(this.recordList.indexOf(rec), 1);
        return { result: { id: rec.id } };
      }
      if (method === 'PUT') return { result: this.write(zone, body, rec) };
      if (method === 'PATCH') {
        const merged: Body = { type: rec.type, name: rec.name, content: rec.content, ttl: rec.ttl, proxied: rec.proxied, comment: rec.comment, priority: rec.priority, ...body };
        return { result: this.write(zone, merged, rec) };
      }
    }
    throw new ApiError(405, 10405, `Method ${method} not allowed for ${path}`);
  }

  private insert(zone: FakeZone, body: Body): FakeRecord {
    return this.write(zone, body, undefined);
  }

  /** Validates a record body like the API does and stores it (new, or over `existing`). */
  private write(zone: FakeZone, body: Body, existing: FakeRecord | undefined): FakeRecord {
    const type = String(body.type ?? '');
    if (!TYPES.has(type)) throw new ApiError(400, 9000, 'DNS record type is invalid.');
    let name = String(body.name ?? '').toLowerCase().replace(/\.$/, '');
    if (name === '') throw new ApiError(400, 9000, 'DNS name is invalid.');
    if (name === '@') name = zone.name;
    else if (name !== zone.name && !name.endsWith(`.${zone.name}`)) name = `${name}.${zone.name}`;
    const content = String(body.content ?? '');
    if (content === '') throw new ApiError(400, 9005, 'Content is required.');
    if (type === 'A' && isIP(content) !== 4) throw new ApiError(400, 9005, 'Content for A record must be a valid IPv4 address.');
    if (type === 'AAAA' && isIP(content) !== 6) throw new ApiError(400, 9006, 'Content for AAAA record must be a valid IPv6 address.');
    const proxied = body.proxied === true;
    if (proxied && !PROXIABLE.has(type)) throw new ApiError(400, 9004, 'This record type cannot be proxied.');
    let ttl = body.ttl === undefined ? 1 : Number(body.ttl);
    if (!(ttl === 1 || (ttl >= 30 && ttl <= 86400))) throw new ApiError(400, 9021, 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.');
    if (proxied) ttl = 1;
    const comment = body.comment === undefined || body.comment === null ? null : String(body.comment);
    if (comment !== null && comment.length > 100) throw new ApiError(400, 9104, 'Comment is too long (maximum 100 characters).');
    if (type === 'MX' && typeof body.priority !== 'number') throw new ApiError(400, 9101, 'Priority is required for MX records.');
    const normalContent = type === 'CNAME' || type === 'MX' ? content.toLowerCase().replace(/\.$/, '') : type === 'AAAA' ? new URL(`http://[${content}]/`).hostname.slice(1, -1) : content;
    const others = this.recordList.filter((r) => r !== existing && r.zone_id === zone.id && r.name === name);
    if (others.some((r) => r.type === type && r.content === normalContent)) throw new ApiError(400, 81058, 'An identical record already exists.');
    if (ADDRESS.has(type) && others.some((r) => r.type === 'CNAME' || (type === 'CNAME' && ADDRESS.has(r.type)))) {
      throw new ApiError(400, 81053, 'An A, AAAA, or CNAME record with that host already exists.');
    }
    const now = new Date().toISOString();
    const rec: FakeRecord = {
      id: existing?.id ?? hexId(),
      zone_id: zone.id,
      zone_name: zone.name,
      name,
      type,
      content: normalContent,
      ttl,
      proxied,
      proxiable: PROXIABLE.has(type),
      comment,
      ...(type === 'MX' ? { priority: Number(body.priority) } : {}),
      tags: [],
      settings: {},
      meta: {},
      created_on: existing?.created_on ?? now,
      modified_on: now,
    };
    if (existing) this.recordList[this.recordList.indexOf(existing)] = rec;
    else this.recordList.push(rec);
    return rec;
  }
}
