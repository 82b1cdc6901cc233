import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { isCoreflowError } from '../../ts/errors.ts';
import { parseImageRef } from '../../ts/docker/image-ref.ts';
import { ImageResolver } from '../../ts/docker/image-resolver.ts';
import { parseChallenge, RegistryClient, type RegistryRequest } from '../../ts/docker/registry-client.ts';
import { pushVariant, REGISTRY, registryCredentials } from '../helpers/registry.ts';
import { uniqueName } from '../helpers/swarm.ts';
import { startTokenRegistry, syntheticDigest } from '../helpers/token-registry.ts';

const labels = { image: 'x', registry: 'r' };

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isCoreflowError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

t.test('references and challenges (pure)', async (t) => {
  t.match(parseImageRef('127.0.0.1:5000/team/app:stable'), { host: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'team/app', tag: 'stable', tagged: '127.0.0.1:5000/team/app:stable' });
  t.match(parseImageRef('nginx'), { host: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest', tagged: 'nginx:latest' });
  t.match(parseImageRef(`ghcr.io/o/app:1@sha256:${'a'.repeat(64)}`), { repository: 'o/app', tag: '1', digest: `sha256:${'a'.repeat(64)}`, tagged: 'ghcr.io/o/app:1' });
  t.same(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
  });
  t.same(parseChallenge('Basic realm="basic-realm"'), { scheme: 'basic', params: { realm: 'basic-realm' } });
  t.equal(parseChallenge(null), undefined);
});

t.test('basic auth against the private registry', async (t) => {
  const creds = await registryCredentials();
  const ref = `${REGISTRY}/${uniqueName('cfclient')}:v1`;
  const pushed = await pushVariant(ref, ref);
  const seen: RegistryRequest[] = [];
  const client = new RegistryClient({ onRequest: (r) => seen.push(r) });
  t.equal(await client.digest(parseImageRef(ref), creds, labels), pushed, 'the digest docker push reported');
  t.same(seen.map((r) => r.code), [200], 'basic auth with the first request: one request per lookup');
  t.equal(seen[0]!.registry, REGISTRY);

  const none = await failure(new RegistryClient().digest(parseImageRef(ref), undefined, labels));
  t.equal(none.code, 'COREFLOW_ERR_REGISTRY_AUTH');
  t.match(none.message, 'needs credentials and none are configured');
  const wrong = await failure(new RegistryClient().digest(parseImageRef(ref), { ...creds, password: 'marker-wrong-pass' }, labels));
  t.equal(wrong.code, 'COREFLOW_ERR_REGISTRY_AUTH');
  t.match(wrong.message, 'rejected the configured credentials');
  t.notOk(wrong.message.includes('marker-wrong-pass'), 'the password is not in the error');
  const missing = await failure(client.digest(parseImageRef(`${REGISTRY}/${uniqueName('cfnone')}:v1`), creds, labels));
  t.equal(missing.code, 'COREFLOW_ERR_IMAGE_NOT_FOUND');
});

t.test('the bearer-token flow, in front of the private registry', async (t) => {
  const upstream = await registryCredentials();
  const front = await startTokenRegistry({ username: 'robot', password: 'token-pass', upstream });
  t.teardown(() => front.close());
  const repo = uniqueName('cfbearer');
  const pushed = await pushVariant(`${REGISTRY}/${repo}:v1`, repo);
  const seen: RegistryRequest[] = [];
  const client = new RegistryClient({ onRequest: (r) => seen.push(r) });
  const ref = parseImageRef(`${front.host}/${repo}:v1`);
  t.equal(await client.digest(ref, { username: 'robot', password: 'token-pass' }, labels), pushed, 'the real digest, through the token flow');
  t.same(front.tokenRequests, [{ service: 'test-registry', scope: `repository:${repo}:pull`, basic: 'robot:token-pass' }], 'a pull token for the repository, asked with the credentials');
  t.same(seen.map((r) => r.code), [401, 200, 200], 'challenge, token, manifest');
  seen.length = 0;
  t.equal(await client.digest(ref, { username: 'robot', password: 'token-pass' }, labels), pushed);
  t.same(seen.map((r) => r.code), [200], 'the token is kept until it expires: one request');
  t.match(front.log.at(-1), { method: 'HEAD', authorization: 'Bearer tok-1' });

  const wrong = await failure(new RegistryClient().digest(ref, { username: 'robot', password: 'nope' }, labels));
  t.equal(wrong.code, 'COREFLOW_ERR_REGISTRY_AUTH');
  t.match(wrong.message, 'token server answered HTTP 401');

  // A registry that leaves Docker-Content-Digest out: the digest is the hash of the manifest.
  front.omitDigestHeader = true;
  t.equal(await new RegistryClient().digest(ref, { username: 'robot', password: 'token-pass' }, labels), pushed, 'hash of the manifest bytes');
  front.omitDigestHeader = false;
});

t.test('no answer: closed port, a server that never answers, a stopped run', async (t) => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const seen: RegistryRequest[] = [];
  const refused = await failure(new RegistryClient({ onRequest: (r) => seen.push(r) }).digest(parseImageRef(`127.0.0.1:${closedPort}/a:1`), undefined, labels));
  t.equal(refused.code, 'COREFLOW_ERR_REGISTRY_UNREACHABLE');
  t.match(refused.message, 'ECONNREFUSED');
  t.same(seen, [{ registry: `127.0.0.1:${closedPort}`, code: 0 }], 'counted as no answer');

  const sockets = new Set<Socket>();
  const silent = createServer((s) => void sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const slow = await failure(new RegistryClient({ timeoutMs: 300 }).digest(parseImageRef(`${host}/a:1`), undefined, labels));
  t.equal(slow.code, 'COREFLOW_ERR_REGISTRY_UNREACHABLE');
  t.match(slow.message, 'no answer within 300 ms');
  const stop = new AbortController();
  const pending = failure(new RegistryClient({ timeoutMs: 60_000 }).digest(parseImageRef(`${host}/a:1`), undefined, labels, stop.signal));
  stop.abort();
  t.match((await pending).message, 'the run was stopped');
});

t.test('the resolver: one request per distinct image per check, kept between checks', async (t) => {
  const upstream = await registryCredentials();
  const front = await startTokenRegistry({ username: 'robot', password: 'token-pass', upstream });
  t.teardown(() => front.close());
  const registry = { id: 'front', url: front.host, username: 'robot', password: 'token-pass' };
  let now = 1_000_000;
  const resolver = new ImageResolver({ intervalMs: 60_000, now: () => now });
  const images = Array.from({ length: 10 }, (_, i) => `${front.host}/syn/app${i}:stable`);
  const requests = Array.from({ length: 100 }, (_, i) => ({ image: images[i % 10]!, registry }));
  const manifests = () => front.log.filter((l) => l.method === 'HEAD' && l.authorization?.startsWith('Bearer ')).length;

  const pins = await resolver.resolve(requests);
  t.equal(manifests(), 10, '100 services over 10 images: 10 manifest requests');
  t.same(pins.get(images[3]!, registry), { digest: syntheticDigest('syn/app3', 'stable') });
  await resolver.resolve(requests);
  t.equal(manifests(), 10, 'a run within the interval asks nothing');
  resolver.expire([images[0]!]);
  await resolver.resolve(requests);
  t.equal(manifests(), 11, 'an expired image is asked again, alone');
  now += 60_000;
  await resolver.resolve(requests);
  t.equal(manifests(), 21, 'after the interval every image is asked again');
  t.equal(front.tokenRequests.length, 10, 'one token per repository, kept');
  const other = await resolver.resolve([{ image: images[0]!, registry: { ...registry, password: 'wrong' } }]);
  t.match(other.get(images[0]!, { ...registry, password: 'wrong' }), { error: { code: 'COREFLOW_ERR_REGISTRY_AUTH' } }, 'other credentials are another lookup');
});

t.test('credentials never go to a token realm in clear text', async (t) => {
  const { createServer: createHttpServer } = await import('node:http');
  const server = createHttpServer((_req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://auth.example.com/token",service="x"' }).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const refused = await failure(new RegistryClient().digest(parseImageRef(`${host}/a:1`), { username: 'u', password: 'p' }, labels));
  t.equal(refused.code, 'COREFLOW_ERR_REGISTRY_UNREACHABLE');
  t.match(refused.message, 'not HTTPS (http://auth.example.com)');
});
