import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { HOSTNAME_WEB_COMMAND, TestEdgeClient, upgradeStatus } from '../helpers/routing.ts';
import { cleanupCluster, connect, TEST_IMAGE, testDoc, uniqueName, waitFor } from '../helpers/swarm.ts';

/**
 * `coreflow agent` as a real child process: the edge token comes from COREFLOW_EDGE_TOKEN, edge
 * proxies connect to /v1/edge, /v1/routing shows the table, SIGTERM stops cleanly.
 */
const TOKEN = 'cli-edge-token-0123456789abcdef';
const bin = new URL('../../bin/coreflow.js', import.meta.url).pathname;

t.test('coreflow agent serves the route table to an edge proxy', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('rtcli') as Record<string, any>;
  const app = uniqueName('app');
  doc.services = [{ name: app, image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, ports: { web: 8080 }, domains: [{ name: 'cli.example.test', protocol: 'http' }] },
    // Incomplete port/domain data: fails this service's routes with a reason, not the table.
    { name: uniqueName('broken'), image: TEST_IMAGE, command: HOSTNAME_WEB_COMMAND, domains: [{ name: 'broken.example.test', protocol: 'http' }] },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'coreflow-routing-cli-'));
  writeFileSync(join(dir, 'cluster.yaml'), stringify(doc));

  const child = spawn(process.execPath, [bin, 'agent', '--spec', join(dir, 'cluster.yaml'), '--port', '0', '--host', '127.0.0.1', '--state-dir', dir], {
    env: { ...process.env, COREFLOW_EDGE_TOKEN: TOKEN, COREFLOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += String(c)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let edge: TestEdgeClient | undefined;
  t.teardown(async () => {
    edge?.close();
    if (child.exitCode === null) child.kill('SIGKILL');
    await cleanupCluster(docker, doc.cluster.name);
  });

  const port = await waitFor('the internal server to listen', async () => Number(/"port":(\d+)[^\n]*internal server listening/.exec(stderr)?.[1] ?? 0) || undefined, 30_000);
  const status = await waitFor('the app in /v1/routing', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/routing`);
    const body = (await res.json()) as { routes?: { hostName: string; destinationIps: string[] }[] };
    return body.routes?.find((r) => r.hostName === 'cli.example.test' && r.destinationIps.length === 1) ? body : undefined;
  }, 60_000, 500);
  t.match(status, {
    routes: [{ hostName: 'cli.example.test', destinationPorts: [8080], tls: false }],
    problems: [{ service: doc.services[1].name, reason: 'not routed: domain broken.example.test has no port and ports.web is not set' }],
  });
  t.equal((status as { routes: unknown[] }).routes.length, 1);

  t.equal(await upgradeStatus(`ws://127.0.0.1:${port}/v1/edge`, 'not-the-token-not-the-token'), 401);
  edge = await TestEdgeClient.connect(`ws://127.0.0.1:${port}/v1/edge`, TOKEN);
  const table = await edge.waitForTable(() => true, 0, 5000);
  t.same(table.routes.map((r) => r.hostName), ['cli.example.test']);
  t.equal((await fetch(`http://127.0.0.1:${port}/v1/traefik`)).status, 404, 'the Traefik endpoint is off unless the spec turns it on');

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
  t.notMatch(stderr, TOKEN, 'the token is never logged');
});
