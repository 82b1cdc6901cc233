import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import type Docker from 'dockerode';
import { WebSocket } from 'ws';
import { silentLogger } from '../../ts/observe/logger.ts';
import { MAX_FRAME_BYTES } from '../../ts/protocol/envelope.ts';
import { edgeMethods } from '../../ts/protocol/methods.ts';
import { Peer } from '../../ts/protocol/peer.ts';
import type { RouteEntry } from '../../ts/routing/types.ts';
import { TEST_IMAGE } from './swarm.ts';

/** Helpers for routing tests: free host ports, a Caddy service, an edge client, HTTP with a Host header. */

export const CADDY_IMAGE = 'coreflow-test/caddy:1';

/** A web task of the test image that serves its own container hostname, so each task answers differently. */
export const HOSTNAME_WEB_COMMAND = ['sh', '-c', 'cat /etc/hostname > /www/index.html && exec httpd -f -p 8080 -h /www'];
export { TEST_IMAGE };

/** A host port free right now (the OS picks it; the swarm binds it shortly after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '0.0.0.0', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface CaddyPorts {
  http: number;
  https: number;
  admin: number;
}

/**
 * Caddy as a Swarm service on `network`, its HTTP, HTTPS and admin ports published in host mode
 * (ingress needs IPVS, which this kernel lacks). The admin API listens on all interfaces.
 */
export async function createCaddyService(docker: Docker, name: string, network: string, ports: CaddyPorts, constraints: string[] = []): Promise<string> {
  const boot = JSON.stringify({ admin: { listen: '0.0.0.0:2019' } });
  const svc = await docker.createService({
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: CADDY_IMAGE, Command: ['sh', '-c', `echo '${boot}' > /tmp/boot.json && exec caddy run --config /tmp/boot.json`] },
      Networks: [{ Target: network }],
      ...(constraints.length > 0 ? { Placement: { Constraints: constraints } } : {}),
    },
    Mode: { Replicated: { Replicas: 1 } },
    EndpointSpec: {
      Ports: [
        { TargetPort: 80, PublishedPort: ports.http, Protocol: 'tcp', PublishMode: 'host' },
        { TargetPort: 443, PublishedPort: ports.https, Protocol: 'tcp', PublishMode: 'host' },
        { TargetPort: 2019, PublishedPort: ports.admin, Protocol: 'tcp', PublishMode: 'host' },
      ],
    },
  } as Docker.CreateServiceOptions);
  return (svc as unknown as { id: string }).id;
}

/** GET http://ADDRESS:port/ (127.0.0.1 unless given) with a Host header; resolves with status and body. */
export function getWithHost(port: number, host: string, path = '/', address = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: address, port, path, headers: { host }, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface ReceivedTable {
  at: number;
  routes: RouteEntry[];
}

/**
 * A minimal edge proxy built on the shared protocol Peer with the edge method table, as an edge
 * written in TypeScript would be: connects with a token, records every updateRouting and answers
 * `{ status: 'ok' }`. Its frames are the envelope of docs/protocol.md.
 */
export class TestEdgeClient {
  readonly received: ReceivedTable[] = [];
  private readonly waiters = new Set<() => void>();
  ws!: WebSocket;
  peer!: Peer<typeof edgeMethods>;

  static async connect(url: string, token: string): Promise<TestEdgeClient> {
    const c = new TestEdgeClient();
    c.ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, maxPayload: MAX_FRAME_BYTES });
    // The Peer listens before the socket opens: the agent pushes the table right after the upgrade.
    c.peer = new Peer(c.ws, { methods: edgeMethods, log: silentLogger() });
    c.peer.handle('updateRouting', (req) => {
      c.received.push({ at: Date.now(), routes: req.reverseConfigs });
      for (const w of c.waiters) w();
      return { status: 'ok' as const };
    });
    await new Promise<void>((resolve, reject) => {
      c.ws.once('open', () => resolve());
      c.ws.once('error', reject);
    });
    return c;
  }

  /** Resolves with the first received table (from index `from` on) that passes `check`. */
  async waitForTable(check: (routes: RouteEntry[]) => boolean, from = 0, timeoutMs = 60_000): Promise<ReceivedTable> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find((r) => check(r.routes));
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`no matching table within ${timeoutMs} ms; last: ${JSON.stringify(this.received.at(-1)?.routes.map((r) => [r.hostName, r.destinationIps]))}`);
      await new Promise<void>((r) => {
        const done = () => (this.waiters.delete(done), clearTimeout(timer), r());
        const timer = setTimeout(done, 250);
        this.waiters.add(done);
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** Connects with a token and resolves with the HTTP status of the refused upgrade (or 101 if accepted). */
export function upgradeStatus(url: string, token: string): Promise<number> {
  return upgradeStatusWith(url, `Bearer ${token}`);
}

/** Like upgradeStatus, with the whole Authorization header (undefined: none). */
export function upgradeStatusWith(url: string, authorization: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: authorization === undefined ? {} : { authorization } });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', () => undefined);
  });
}
