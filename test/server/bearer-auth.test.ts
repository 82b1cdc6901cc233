import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { ControlPlane } from '../../ts/controlplane/control-plane.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { DockerEventStream } from '../../ts/docker/event-stream.ts';
import { RoutingController, ROUTING_EVENT_TYPES } from '../../ts/routing/routing-controller.ts';
import { registerRoutingEndpoints, TRAEFIK_PATH } from '../../ts/routing/routing-endpoints.ts';
import { bearerMatches, bearerToken, tokenMatches } from '../../ts/server/bearer-auth.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';
import type { LoadedSpec } from '../../ts/spec/parse.ts';
import { upgradeStatusWith } from '../helpers/routing.ts';
import { connect, load, testDoc, waitFor } from '../helpers/swarm.ts';

const TOKEN = 'bearer-test-token-0123456789';
/** Every spelling of the scheme a client may send (RFC 7235: case-insensitive). */
const SCHEMES = ['Bearer', 'bearer', 'BEARER', 'beaRer'];

function get(url: string, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the parser: scheme in any case, one token, constant-time compare', async (t) => {
  for (const s of SCHEMES) t.equal(bearerToken(`${s} abc`), 'abc', s);
  t.equal(bearerToken('bearer   abc '), 'abc');
  t.equal(bearerToken('Basic abc'), undefined);
  t.equal(bearerToken('Bearer'), undefined);
  t.equal(bearerToken('Bearer a b'), undefined, 'a token has no spaces');
  t.equal(bearerToken('Bearerabc'), undefined);
  t.equal(bearerToken(undefined), undefined);
  t.ok(tokenMatches('0123456789abcdef', '0123456789abcdef'));
  t.notOk(tokenMatches('0123456789abcdeF', '0123456789abcdef'));
  t.notOk(tokenMatches('', '0123456789abcdef'), 'different lengths compare safely');
  t.ok(bearerMatches(`bearer ${TOKEN}`, TOKEN));
  t.notOk(bearerMatches(`bearer ${TOKEN}`, undefined), 'no expected token: nobody matches');
  t.notOk(bearerMatches('bearer ', ''));
});

t.test('the control plane HTTP API takes the scheme in any case', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-bearer-'));
  const specPath = join(dir, 'spec.yaml');
  await writeFile(specPath, stringify(testDoc('bearer')));
  const cp = new ControlPlane({ specPath, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger(), pingIntervalMs: 0 });
  await cp.start();
  t.teardown(() => cp.stop());
  const url = `http://127.0.0.1:${cp.port}/v1/services`;
  for (const s of SCHEMES) t.equal(await get(url, `${s} ${TOKEN}`), 200, s);
  t.equal(await get(url, `bearer ${TOKEN}x`), 401);
  t.equal(await get(url), 401);
});

t.test('/v1/edge and /v1/traefik take the scheme in any case', async (t) => {
  const { docker } = await connect();
  const doc = testDoc('bearer') as Record<string, unknown>;
  doc.routing = { enabled: true, edge: { enabled: true }, traefik: { enabled: true, includeCertificates: true } };
  const loaded: LoadedSpec = load(doc);
  const events = new DockerEventStream(docker, { types: ROUTING_EVENT_TYPES, log: silentLogger() });
  const controller = new RoutingController({ docker, events, desired: () => loaded, log: silentLogger(), edgeToken: TOKEN, debounceMs: 10 });
  const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
  registerRoutingEndpoints(server, controller, { desired: () => loaded, edgeToken: TOKEN });
  await server.start();
  await controller.start();
  t.teardown(async () => {
    await controller.stop();
    await server.stop();
  });
  await waitFor('the first route table', async () => controller.current, 30_000);
  const base = `127.0.0.1:${server.port}`;
  for (const s of SCHEMES) {
    t.equal(await upgradeStatusWith(`ws://${base}/v1/edge`, `${s} ${TOKEN}`), 101, `/v1/edge ${s}`);
    t.equal(await get(`http://${base}${TRAEFIK_PATH}`, `${s} ${TOKEN}`), 200, `/v1/traefik ${s}`);
  }
  t.equal(await upgradeStatusWith(`ws://${base}/v1/edge`, `bearer ${TOKEN}x`), 401);
  t.equal(await get(`http://${base}${TRAEFIK_PATH}`, `bearer ${TOKEN}x`), 401);
});
