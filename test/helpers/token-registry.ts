import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { REGISTRY } from './registry.ts';

/**
 * A registry front with bearer-token auth, as Docker Hub, GHCR and most hosted registries do it
 * (the Debian registry here speaks only basic auth): a real HTTP server on port 0 with a token
 * endpoint (/token: basic auth in, `{ token, expires_in }` out) and /v2/ manifest routes that want
 * `Authorization: Bearer <token>` and otherwise answer 401 with
 * `WWW-Authenticate: Bearer realm=...,service=...,scope=...`. Manifests of repositories under
 * `syn/` are made up (digest = sha256 of "repo:tag"); the others are relayed to the shared
 * registry with its basic credentials, so their digests are the real ones.
 */
export interface TokenRegistry {
  host: string;
  /** Requests seen: `GET /token`, `HEAD /v2/...`. */
  log: { method: string; path: string; authorization?: string }[];
  /** Token requests and what they asked for. */
  tokenRequests: { service: string | null; scope: string | null; basic?: string }[];
  /** Leave Docker-Content-Digest out of manifest answers (some registries do). */
  omitDigestHeader: boolean;
  close(): Promise<void>;
}

export function syntheticDigest(repo: string, tag: string): string {
  return `sha256:${createHash('sha256').update(`${repo}:${tag}`).digest('hex')}`;
}

export async function startTokenRegistry(opts: { username: string; password: string; upstream: { username: string; password: string } }): Promise<TokenRegistry> {
  const tokens = new Set<string>();
  let n = 0;
  const state: Omit<TokenRegistry, 'close' | 'host'> = { log: [], tokenRequests: [], omitDigestHeader: false };
  let host = '';
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    state.log.push({ method: req.method ?? '', path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    if (url.pathname === '/token') {
      const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : undefined;
      state.tokenRequests.push({ service: url.searchParams.get('service'), scope: url.searchParams.get('scope'), ...(basic ? { basic } : {}) });
      if (basic !== `${opts.username}:${opts.password}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const token = `tok-${++n}`;
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const [, repo = '', tag = ''] = m;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !tokens.has(bearer)) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${repo}:pull"` }).end();
      return;
    }
    if (repo.startsWith('syn/')) {
      const body = JSON.stringify({ schemaVersion: 2, repo, tag });
      const digest = state.omitDigestHeader ? `sha256:${createHash('sha256').update(body).digest('hex')}` : syntheticDigest(repo, tag);
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', ...(state.omitDigestHeader ? {} : { 'docker-content-digest': digest }) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const up = await fetch(`http://${REGISTRY}/v2/${repo}/manifests/${tag}`, {
      method: req.method === 'HEAD' ? 'HEAD' : 'GET',
      headers: { accept: req.headers.accept ?? '*/*', authorization: `Basic ${Buffer.from(`${opts.upstream.username}:${opts.upstream.password}`).toString('base64')}` },
      signal: AbortSignal.timeout(10_000),
    });
    const headers: Record<string, string> = { 'content-type': up.headers.get('content-type') ?? 'application/json' };
    const digest = up.headers.get('docker-content-digest');
    if (digest && !state.omitDigestHeader) headers['docker-content-digest'] = digest;
    res.writeHead(up.status, headers);
    res.end(req.method === 'HEAD' ? undefined : Buffer.from(await up.arrayBuffer()));
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    host,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}
