import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake of the Corestore control API (docs/corestore.md) on a real HTTP server on port 0:
 * bindings (list by cluster, get, provision with PUT, rotate, release), bearer auth, the error
 * body `{error:{code,message}}`, idempotent provisioning (same owner: the same resource; another
 * owner: 409 name_in_use), and injectable failures: a status (500, 503, 429 with Retry-After), a
 * hang (no answer: the client's deadline) or a dropped connection. Every credential value
 * contains `marker`, so a test can look for it in logs and reports. test/fakes/corestore.test.ts
 * checks it against the document.
 */

export type FakeBindingType = 'database' | 'objectstorage';

export interface FakeBinding {
  type: FakeBindingType;
  name: string;
  owner: { cluster: string; service: string };
  id: string;
  state: 'ready' | 'provisioning' | 'failed';
  endpoint: string;
  credentialRef: string;
  message?: string;
  env: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface FakeCorestoreRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  authorization?: string;
  body?: unknown;
}

export interface CorestoreFailure {
  /** An HTTP status to answer with; or `hang` (never answer) or `drop` (close the connection). */
  status?: number;
  hang?: boolean;
  drop?: boolean;
  retryAfter?: number;
  /** How many matching requests fail (default 1; Infinity for "down"). */
  times?: number;
  method?: string;
  path?: RegExp;
}

const TYPES = new Set<FakeBindingType>(['database', 'objectstorage']);
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function hex(n: number): string {
  return randomBytes(n).toString('hex');
}

export class FakeCorestore {
  readonly requests: FakeCorestoreRequest[] = [];
  private readonly store = new Map<string, FakeBinding>();
  private readonly failures: (CorestoreFailure & { left: number })[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | undefined;
  private port = 0;

  constructor(
    readonly token: string = `cs-test-${hex(12)}`,
    /** Part of every credential value, to look for in logs, status and reports. */
    readonly marker: string = `MARKER${hex(6)}`,
  ) {}

  static async start(opts: { token?: string; marker?: string } = {}): Promise<FakeCorestore> {
    const fake = new FakeCorestore(opts.token, opts.marker);
    await fake.listen();
    return fake;
  }

  /** CORESTORE_CONTROL_URL for the client. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  bindings(): FakeBinding[] {
    return [...this.store.values()];
  }

  binding(type: FakeBindingType, name: string): FakeBinding | undefined {
    return this.store.get(`${type}/${name}`);
  }

  /** Seeds a binding as if another owner had made it (no request is logged). */
  seed(type: FakeBindingType, name: string, owner: { cluster: string; service: string }): FakeBinding {
    return this.create(type, name, owner, {});
  }

  /** Requests that provision, rotate or release (anything but GET). */
  writes(): FakeCorestoreRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  inject(f: CorestoreFailure): void {
    this.failures.push({ ...f, left: f.times ?? 1 });
  }

  clearFailures(): void {
    this.failures.length = 0;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }

  /** Rotates a binding's credential as POST .../rotate does (no request is logged). */
  rotate(type: FakeBindingType, name: string): FakeBinding {
    const b = this.binding(type, name);
    if (!b) throw new Error(`no ${type} ${name}`);
    this.issueCredential(b);
    return b;
  }

  private issueCredential(b: FakeBinding): void {
    const version = Number(b.credentialRef.split('cred-')[1] ?? '0') + 1;
    const user = `${b.name}-u${version}`;
    const password = `${this.marker}-${hex(8)}`;
    b.credentialRef = `${b.id}/cred-${version}`;
    b.updatedAt = new Date().toISOString();
    if (b.type === 'database') {
      b.env = { MONGODB_URI: `mongodb://${user}:${password}@corestore:27017/${b.name}`, MONGODB_DATABASE: b.name };
    } else {
      b.env = {
        S3_BUCKET: b.name,
        S3_ENDPOINT: 'http://corestore:9000',
        S3_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: user,
        AWS_SECRET_ACCESS_KEY: password,
        AWS_ENDPOINT_URL: 'http://corestore:9000',
        AWS_REGION: 'us-east-1',
      };
    }
  }

  private create(type: FakeBindingType, name: string, owner: { cluster: string; service: string }, options: Record<string, string>): FakeBinding {
    const now = new Date().toISOString();
    const id = `${type === 'database' ? 'db' : 's3'}-${hex(4)}`;
    const b: FakeBinding = {
      type,
      name,
      owner: { cluster: owner.cluster, service: owner.service },
      id,
      state: 'ready',
      endpoint: type === 'database' ? `mongodb://corestore:27017/${name}` : `http://corestore:9000/${name}`,
      credentialRef: `${id}/cred-0`,
      env: {},
      options,
      createdAt: now,
      updatedAt: now,
    };
    this.issueCredential(b);
    this.store.set(`${type}/${name}`, b);
    return b;
  }

  private view(b: FakeBinding): Record<string, unknown> {
    const { options: _options, ...rest } = b;
    return { ...rest, owner: { ...b.owner }, env: { ...b.env } };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const entry: FakeCorestoreRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams.entries()), status: 0, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
    this.requests.push(entry);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      if (body === undefined) {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    try {
      const raw = await new Promise<string>((resolve, reject) => {
        let data = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (data += c));
        req.on('end', () => resolve(data));
        req.on('error', reject);
      });
      const failure = this.failures.find((f) => f.left > 0 && (!f.method || f.method === method) && (!f.path || f.path.test(url.pathname)));
      if (failure) {
        failure.left--;
        if (failure.hang) {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        if (failure.drop) {
          req.socket.destroy();
          return;
        }
        const status = failure.status ?? 500;
        const code = status === 429 ? 'rate_limited' : status === 503 ? 'unavailable' : 'internal';
        send(status, { error: { code, message: `injected ${status}` } }, failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {});
        return;
      }
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new ApiError(401, 'unauthorized', 'missing or wrong token');
      let body: Record<string, unknown> = {};
      if (raw !== '') {
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          throw new ApiError(400, 'invalid_request', 'the body is not JSON');
        }
        entry.body = body;
      }
      const out = this.route(method, url, body);
      send(out.status, out.body);
    } catch (err) {
      if (err instanceof ApiError) send(err.status, { error: { code: err.code, message: err.message } });
      else send(500, { error: { code: 'internal', message: String(err) } });
    }
  }

  private route(method: string, url: URL, body: Record<string, unknown>): { status: number; body?: unknown } {
    const path = url.pathname;
    if (path === '/v1/bindings' && method === 'GET') {
      const cluster = url.searchParams.get('cluster');
      if (!cluster) throw new ApiError(400, 'invalid_request', 'cluster is required');
      return { status: 200, body: { bindings: this.bindings().filter((b) => b.owner.cluster === cluster).map((b) => this.view(b)) } };
    }
    const m = /^\/v1\/bindings\/([^/]+)\/([^/]+)(\/rotate)?$/.exec(path);
    if (!m) throw new ApiError(404, 'not_found', `no route ${method} ${path}`);
    const type = decodeURIComponent(m[1]!) as FakeBindingType;
    const name = decodeURIComponent(m[2]!);
    if (!TYPES.has(type)) throw new ApiError(400, 'invalid_request', `unknown type ${type}`);
    if (!NAME.test(name)) throw new ApiError(400, 'invalid_request', `bad name ${name}`);
    const existing = this.binding(type, name);
    if (m[3]) {
      if (method !== 'POST') throw new ApiError(405, 'invalid_request', `method ${method} not allowed`);
      if (!existing) throw new ApiError(404, 'not_found', `no ${type} ${name}`);
      this.issueCredential(existing);
      return { status: 200, body: this.view(existing) };
    }
    if (method === 'GET') {
      if (!existing) throw new ApiError(404, 'not_found', `no ${type} ${name}`);
      return { status: 200, body: this.view(existing) };
    }
    if (method === 'PUT') {
      const owner = body.owner as { cluster?: unknown; service?: unknown } | undefined;
      if (!owner || typeof owner.cluster !== 'string' || typeof owner.service !== 'string' || !owner.cluster || !owner.service) {
        throw new ApiError(400, 'invalid_request', 'owner.cluster and owner.service are required');
      }
      const options = body.options ?? {};
      if (typeof options !== 'object' || options === null || Object.values(options).some((v) => typeof v !== 'string')) {
        throw new ApiError(400, 'invalid_request', 'options must map names to strings');
      }
      if (existing) {
        if (existing.owner.cluster !== owner.cluster || existing.owner.service !== owner.service) {
          throw new ApiError(409, 'name_in_use', `${type} ${name} belongs to another owner`);
        }
        return { status: 200, body: this.view(existing) };
      }
      return { status: 201, body: this.view(this.create(type, name, { cluster: owner.cluster, service: owner.service }, options as Record<string, string>)) };
    }
    if (method === 'DELETE') {
      if (!existing) throw new ApiError(404, 'not_found', `no ${type} ${name}`);
      if (existing.owner.cluster !== url.searchParams.get('cluster') || existing.owner.service !== url.searchParams.get('service')) {
        throw new ApiError(409, 'name_in_use', `${type} ${name} belongs to another owner`);
      }
      this.store.delete(`${type}/${name}`);
      return { status: 204 };
    }
    throw new ApiError(405, 'invalid_request', `method ${method} not allowed`);
  }
}
