import { createHash } from 'node:crypto';
import { CoreflowError, errorText } from '../errors.ts';
import { isLoopbackRegistry, type ImageRef } from './image-ref.ts';

/** The manifest kinds a tag may point at: multi-platform lists first, so the digest is the one Docker pins. */
export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** One answer (or none: code 0) of a registry or its token server, for metrics. */
export interface RegistryRequest {
  registry: string;
  code: number;
}

export interface RegistryClientOptions {
  /** Deadline of each HTTP request to a registry or token server (default 10 s). */
  timeoutMs?: number;
  onRequest?: (r: RegistryRequest) => void;
}

/** What a lookup names in its errors: the reference as deployed and the registry (its `registries` id, else its host). */
export interface LookupLabels {
  image: string;
  registry: string;
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Pure. The first challenge of a WWW-Authenticate header (`Bearer realm="...",service="...",scope="..."`). */
export function parseChallenge(header: string | null): Challenge | undefined {
  const m = /^\s*(basic|bearer)\b\s*(.*)$/i.exec(header ?? '');
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/([a-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/gi)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: m[1]!.toLowerCase() as Challenge['scheme'], params };
}

function basic(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/**
 * A client of the registry distribution API that reads what a tag points at: HEAD
 * /v2/<name>/manifests/<tag>, the Docker-Content-Digest header (or, when a registry leaves it
 * out, the SHA-256 of the manifest a GET returns). Authenticates as registries ask in their
 * WWW-Authenticate challenge: basic auth (sent with the first request when there are
 * credentials), or the bearer-token flow (a pull token for the repository from the realm, asked
 * with the credentials as basic auth; never from a realm over plain HTTP). Bearer tokens are kept per
 * registry and repository until they expire. Loopback registries are spoken to over plain HTTP,
 * every other over HTTPS. Credentials and tokens never appear in errors or logs.
 *
 * Throws COREFLOW_ERR_REGISTRY_AUTH (credentials refused or missing), COREFLOW_ERR_IMAGE_NOT_FOUND
 * (no such repository or tag) or COREFLOW_ERR_REGISTRY_UNREACHABLE (no answer in time, a network
 * error, any other answer).
 */
export class RegistryClient {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly timeoutMs: number;

  constructor(private readonly opts: RegistryClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  async digest(ref: ImageRef, creds: RegistryCredentials | undefined, labels: LookupLabels, signal?: AbortSignal): Promise<string> {
    const base = `${isLoopbackRegistry(ref.apiHost) ? 'http' : 'https'}://${ref.apiHost}`;
    const url = `${base}/v2/${ref.repository}/manifests/${encodeURIComponent(ref.tag)}`;
    // Tokens are per credentials too: a token got with one password must not answer for another.
    const who = creds ? createHash('sha256').update(`${creds.username}\0${creds.password}`).digest('hex').slice(0, 16) : '';
    const tokenKey = `${ref.apiHost}/${ref.repository}|${who}`;
    const cached = this.tokens.get(tokenKey);
    // With credentials, basic auth goes with the first request (one request per lookup on a
    // basic-auth registry; a bearer registry answers with its challenge all the same).
    let auth = cached && cached.expiresAt > Date.now() ? `Bearer ${cached.token}` : creds ? basic(creds) : undefined;
    const sentBasic = auth?.startsWith('Basic ') ?? false;
    let res = await this.send(ref, labels, url, 'HEAD', auth, signal);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        const token = await this.bearerToken(ref, creds, labels, challenge.params, tokenKey, signal);
        auth = `Bearer ${token}`;
      } else if (challenge?.scheme === 'basic' && creds && !sentBasic) {
        auth = basic(creds);
      } else {
        throw this.authError(creds, labels, 'HTTP 401');
      }
      res = await this.send(ref, labels, url, 'HEAD', auth, signal);
    }
    if (res.status === 401 || res.status === 403) throw this.authError(creds, labels, `HTTP ${res.status}`);
    if (res.status === 404) throw new CoreflowError('COREFLOW_ERR_IMAGE_NOT_FOUND', { ...labels, details: `the registry has no tag ${ref.tag} of ${ref.repository}` });
    if (res.status !== 200) throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: `HTTP ${res.status}` });
    const header = res.headers.get('docker-content-digest');
    if (header && /^sha256:[0-9a-f]{64}$/.test(header)) return header;
    // A registry that leaves the header out: the digest is the hash of the manifest's bytes.
    const got = await this.send(ref, labels, url, 'GET', auth, signal);
    if (got.status !== 200) throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: `HTTP ${got.status} for the manifest` });
    const body = Buffer.from(await this.read(got, labels));
    return `sha256:${createHash('sha256').update(body).digest('hex')}`;
  }

  private authError(creds: RegistryCredentials | undefined, labels: LookupLabels, details: string): CoreflowError {
    const what = creds ? 'rejected the configured credentials' : 'needs credentials and none are configured';
    return new CoreflowError('COREFLOW_ERR_REGISTRY_AUTH', { ...labels, what, details });
  }

  private async bearerToken(ref: ImageRef, creds: RegistryCredentials | undefined, labels: LookupLabels, params: Record<string, string>, key: string, signal?: AbortSignal): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(params.realm!);
    } catch {
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: 'the registry named an invalid token realm' });
    }
    // The credentials go to the realm: never in clear text over the network.
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && isLoopbackRegistry(realm.host))) {
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: `the registry named a token realm that is not HTTPS (${realm.origin}); not sending credentials there` });
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? `repository:${ref.repository}:pull`);
    const res = await this.send(ref, labels, realm.toString(), 'GET', creds ? basic(creds) : undefined, signal);
    if (res.status === 401 || res.status === 403) throw this.authError(creds, labels, `token server answered HTTP ${res.status}`);
    if (res.status !== 200) throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: `token server answered HTTP ${res.status}` });
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(Buffer.from(await this.read(res, labels)).toString('utf8')) as typeof body;
    } catch {
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: 'the token server answered something other than JSON' });
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: 'the token server answered without a token' });
    // Spec default lifetime 60 s; kept 10 s less so a token never expires between use and answer.
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(key, { token, expiresAt: Date.now() + Math.max(0, seconds - 10) * 1000 });
    return token;
  }

  private async send(ref: ImageRef, labels: LookupLabels, url: string, method: 'HEAD' | 'GET', auth: string | undefined, signal?: AbortSignal): Promise<Response> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = { accept: MANIFEST_ACCEPT, 'user-agent': 'coreflow' };
    if (auth) headers.authorization = auth;
    try {
      const res = await fetch(url, { method, headers, redirect: 'follow', signal: signal ? AbortSignal.any([signal, deadline]) : deadline });
      this.opts.onRequest?.({ registry: ref.host, code: res.status });
      if (method === 'HEAD' || res.status !== 200) await res.body?.cancel().catch(() => undefined);
      return res;
    } catch (err) {
      this.opts.onRequest?.({ registry: ref.host, code: 0 });
      const details = deadline.aborted ? `no answer within ${this.timeoutMs} ms` : signal?.aborted ? 'the run was stopped' : networkText(err);
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details });
    }
  }

  /** A body of at most 4 MiB (manifests and token answers are small). */
  private async read(res: Response, labels: LookupLabels): Promise<Uint8Array> {
    const max = 4 * 1024 * 1024;
    if (Number(res.headers.get('content-length')) > max) {
      await res.body?.cancel().catch(() => undefined);
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: 'answer larger than 4 MiB' });
    }
    const buf = new Uint8Array(await res.arrayBuffer().catch((err: unknown) => {
      throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: networkText(err) });
    }));
    if (buf.byteLength > max) throw new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { ...labels, details: 'answer larger than 4 MiB' });
    return buf;
  }
}

function networkText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${cause.code}${cause.message ? ` (${cause.message})` : ''}` : errorText(err);
}
