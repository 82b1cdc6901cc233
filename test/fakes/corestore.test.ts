import t from 'tap';
import { FakeCorestore } from './corestore.ts';

/** The fake behaves as docs/corestore.md says the Corestore control API does. */

async function api(fake: FakeCorestore, method: string, path: string, body?: unknown, token: string | null = fake.token) {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : undefined) as any };
}

const owner = { cluster: 'c1', service: 'orders' };

t.test('bearer auth: a missing or wrong token gets 401 unauthorized', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  for (const token of [null, 'nope']) {
    const res = await api(fake, 'GET', '/v1/bindings?cluster=c1', undefined, token);
    t.equal(res.status, 401);
    t.equal(res.json.error.code, 'unauthorized');
  }
  t.same((await api(fake, 'GET', '/v1/bindings?cluster=c1')).json, { bindings: [] });
});

t.test('PUT provisions once: 201, then 200 with the same resource; GET and list by cluster', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const first = await api(fake, 'PUT', '/v1/bindings/database/orders', { owner, options: { version: '7' } });
  t.equal(first.status, 201);
  t.match(first.json, { type: 'database', name: 'orders', owner, state: 'ready', endpoint: 'mongodb://corestore:27017/orders' });
  t.match(first.json.env.MONGODB_URI, new RegExp(fake.marker), 'credential values carry the marker');
  t.notOk(first.json.endpoint.includes(fake.marker), 'the endpoint holds no credential');
  const again = await api(fake, 'PUT', '/v1/bindings/database/orders', { owner, options: { version: '8' } });
  t.equal(again.status, 200);
  t.same(again.json, first.json, 'provisioning twice returns the same resource, credentials and all');
  t.same((await api(fake, 'GET', '/v1/bindings/database/orders')).json, first.json);
  const s3 = await api(fake, 'PUT', '/v1/bindings/objectstorage/orders', { owner });
  t.equal(s3.status, 201, 'names are unique per type');
  t.same(Object.keys(s3.json.env).sort(), ['AWS_ACCESS_KEY_ID', 'AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY', 'S3_BUCKET', 'S3_ENDPOINT', 'S3_REGION']);
  await api(fake, 'PUT', '/v1/bindings/database/other', { owner: { cluster: 'c2', service: 'x' } });
  const list = await api(fake, 'GET', '/v1/bindings?cluster=c1');
  t.same(list.json.bindings.map((b: { type: string; name: string }) => `${b.type}/${b.name}`).sort(), ['database/orders', 'objectstorage/orders']);
  t.equal((await api(fake, 'GET', '/v1/bindings/database/missing')).status, 404);
});

t.test('a name held by another owner: 409 name_in_use, nothing changes', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const held = fake.seed('database', 'shared', { cluster: 'other', service: 'x' });
  const res = await api(fake, 'PUT', '/v1/bindings/database/shared', { owner });
  t.equal(res.status, 409);
  t.equal(res.json.error.code, 'name_in_use');
  t.notOk(JSON.stringify(res.json).includes(fake.marker), 'the error holds no credential');
  t.same(fake.binding('database', 'shared'), held);
  const del = await api(fake, 'DELETE', '/v1/bindings/database/shared?cluster=c1&service=orders');
  t.equal(del.status, 409, 'only the owner may release');
});

t.test('bad requests: 400 invalid_request', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  t.equal((await api(fake, 'PUT', '/v1/bindings/queue/x', { owner })).json.error.code, 'invalid_request');
  t.equal((await api(fake, 'PUT', '/v1/bindings/database/Bad_Name', { owner })).status, 400);
  t.equal((await api(fake, 'PUT', '/v1/bindings/database/x', {})).status, 400);
  t.equal((await api(fake, 'PUT', '/v1/bindings/database/x', { owner, options: { n: 1 } })).status, 400);
  t.equal((await api(fake, 'GET', '/v1/bindings')).status, 400, 'list needs a cluster');
});

t.test('rotate issues a new credential and credentialRef; same id', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const first = (await api(fake, 'PUT', '/v1/bindings/objectstorage/media', { owner })).json;
  const rotated = await api(fake, 'POST', '/v1/bindings/objectstorage/media/rotate');
  t.equal(rotated.status, 200);
  t.equal(rotated.json.id, first.id);
  t.not(rotated.json.credentialRef, first.credentialRef);
  t.not(rotated.json.env.AWS_SECRET_ACCESS_KEY, first.env.AWS_SECRET_ACCESS_KEY);
  t.equal(rotated.json.env.S3_BUCKET, 'media');
  t.equal((await api(fake, 'POST', '/v1/bindings/objectstorage/none/rotate')).status, 404);
});

t.test('DELETE releases for the owner: 204, then 404', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  await api(fake, 'PUT', '/v1/bindings/database/orders', { owner });
  t.equal((await api(fake, 'DELETE', '/v1/bindings/database/orders?cluster=c1&service=orders')).status, 204);
  t.equal(fake.binding('database', 'orders'), undefined);
  t.equal((await api(fake, 'DELETE', '/v1/bindings/database/orders?cluster=c1&service=orders')).status, 404);
});

t.test('injected failures: 500, 503, 429 with Retry-After, a hang and a dropped connection', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  fake.inject({ status: 500 });
  t.match(await api(fake, 'GET', '/v1/bindings?cluster=c1'), { status: 500, json: { error: { code: 'internal' } } });
  fake.inject({ status: 503 });
  t.match(await api(fake, 'GET', '/v1/bindings?cluster=c1'), { status: 503, json: { error: { code: 'unavailable' } } });
  fake.inject({ status: 429, retryAfter: 2 });
  const limited = await api(fake, 'GET', '/v1/bindings?cluster=c1');
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('retry-after'), '2');
  t.equal((await api(fake, 'GET', '/v1/bindings?cluster=c1')).status, 200, 'failures are used up');
  fake.inject({ hang: true });
  await t.rejects(fetch(`${fake.url}/v1/bindings?cluster=c1`, { headers: { authorization: `Bearer ${fake.token}` }, signal: AbortSignal.timeout(200) }), 'a hang never answers');
  fake.inject({ drop: true });
  await t.rejects(fetch(`${fake.url}/v1/bindings?cluster=c1`, { headers: { authorization: `Bearer ${fake.token}` } }), 'a dropped connection');
});
