import Cloudflare, { APIError } from 'cloudflare';
import t from 'tap';
import { FakeCloudflare } from './cloudflare.ts';

/** The fake behaves like the Cloudflare v4 API where coreflow depends on it. */

async function api(fake: FakeCloudflare, method: string, path: string, body?: unknown, token: string | null = fake.token) {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as { success: boolean; errors: { code: number; message: string }[]; result: any; result_info?: any } };
}

t.test('bearer auth: missing and wrong tokens get error envelopes', async (t) => {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  const missing = await api(fake, 'GET', '/zones', undefined, null);
  t.equal(missing.status, 400);
  t.equal(missing.json.success, false);
  t.equal(missing.json.errors[0]?.code, 9106);
  const wrong = await api(fake, 'GET', '/zones', undefined, 'nope');
  t.equal(wrong.status, 401);
  t.match(wrong.json.errors[0], { code: 1000, message: 'Invalid API Token' });
  const ok = await api(fake, 'GET', '/zones');
  t.equal(ok.status, 200);
  t.same(ok.json.result, []);
});

t.test('zones by name; records: create, list with paging, overwrite, patch, delete', async (t) => {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  const zone = fake.addZone('example.com');
  fake.addZone('example.org');
  const zones = await api(fake, 'GET', '/zones?name=example.com');
  t.same(zones.json.result.map((z: { id: string }) => z.id), [zone.id]);

  const created = await api(fake, 'POST', `/zones/${zone.id}/dns_records`, { type: 'A', name: 'WWW', content: '203.0.113.10', proxied: true, ttl: 300, comment: 'x' });
  t.equal(created.status, 200);
  t.match(created.json.result, { name: 'www.example.com', type: 'A', content: '203.0.113.10', proxied: true, ttl: 1, comment: 'x' }, 'relative name expanded; proxied forces ttl 1');
  const id = created.json.result.id as string;

  for (let i = 0; i < 11; i++) await api(fake, 'POST', `/zones/${zone.id}/dns_records`, { type: 'TXT', name: `t${i}.example.com`, content: `v${i}` });
  const page1 = await api(fake, 'GET', `/zones/${zone.id}/dns_records?page=1&per_page=5`);
  t.equal(page1.json.result.length, 5);
  t.match(page1.json.result_info, { page: 1, per_page: 5, count: 5, total_count: 12, total_pages: 3 });
  const page3 = await api(fake, 'GET', `/zones/${zone.id}/dns_records?page=3&per_page=5`);
  t.equal(page3.json.result.length, 2);
  const page4 = await api(fake, 'GET', `/zones/${zone.id}/dns_records?page=4&per_page=5`);
  t.same(page4.json.result, [], 'a page past the end is empty');
  const byName = await api(fake, 'GET', `/zones/${zone.id}/dns_records?name=www.example.com`);
  t.equal(byName.json.result.length, 1);

  const put = await api(fake, 'PUT', `/zones/${zone.id}/dns_records/${id}`, { type: 'A', name: 'www.example.com', content: '203.0.113.11', ttl: 120 });
  t.match(put.json.result, { id, content: '203.0.113.11', proxied: false, ttl: 120, comment: null }, 'PUT overwrites every field');
  const patch = await api(fake, 'PATCH', `/zones/${zone.id}/dns_records/${id}`, { ttl: 600 });
  t.match(patch.json.result, { id, content: '203.0.113.11', ttl: 600 }, 'PATCH keeps the other fields');
  const del = await api(fake, 'DELETE', `/zones/${zone.id}/dns_records/${id}`);
  t.same(del.json.result, { id });
  const gone = await api(fake, 'DELETE', `/zones/${zone.id}/dns_records/${id}`);
  t.equal(gone.status, 404);
  t.equal(gone.json.errors[0]?.code, 81044);
  t.equal(fake.writes().length, 16);
});

t.test('invalid and clashing records are refused with the API codes', async (t) => {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  const zone = fake.addZone('example.com');
  const post = (b: unknown) => api(fake, 'POST', `/zones/${zone.id}/dns_records`, b);
  t.equal((await post({ type: 'A', name: 'a.example.com', content: 'not-an-ip' })).json.errors[0]?.code, 9005);
  t.equal((await post({ type: 'TXT', name: 'a.example.com', content: 'x', proxied: true })).json.errors[0]?.code, 9004);
  t.equal((await post({ type: 'A', name: 'a.example.com', content: '203.0.113.1', ttl: 5 })).json.errors[0]?.code, 9021);
  t.equal((await post({ type: 'A', name: 'a.example.com', content: '203.0.113.1', comment: 'c'.repeat(101) })).json.errors[0]?.code, 9104);
  t.equal((await post({ type: 'A', name: 'a.example.com', content: '203.0.113.1' })).status, 200);
  const identical = await post({ type: 'A', name: 'a.example.com', content: '203.0.113.1' });
  t.equal(identical.status, 400);
  t.equal(identical.json.errors[0]?.code, 81058);
  t.equal((await post({ type: 'CNAME', name: 'a.example.com', content: 'lb.example.net' })).json.errors[0]?.code, 81053);
  t.equal((await post({ type: 'A', name: 'a.example.com', content: '203.0.113.2' })).status, 200, 'a second A at the name is fine');
  const badZone = await api(fake, 'GET', '/zones/0000/dns_records');
  t.equal(badZone.json.errors[0]?.code, 7003);
});

t.test('injected 429 carries retry-after; injected 5xx; then normal service', async (t) => {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  fake.inject({ status: 429, retryAfter: 2, path: /^\/zones$/ });
  fake.inject({ status: 503, method: 'GET' });
  const limited = await api(fake, 'GET', '/zones');
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('retry-after'), '2');
  t.equal(limited.json.errors[0]?.code, 971);
  const down = await api(fake, 'GET', '/zones');
  t.equal(down.status, 503);
  t.equal(down.json.success, false);
  t.equal((await api(fake, 'GET', '/zones')).status, 200);
  t.same(fake.requests.map((r) => r.status), [429, 503, 200]);
});

t.test('the official SDK works against the fake: zones, records, paging to the end, errors', async (t) => {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  const zone = fake.addZone('example.com');
  const client = new Cloudflare({ apiToken: fake.token, baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
  const zones = await client.zones.list({ name: 'example.com' });
  t.equal(zones.result[0]?.id, zone.id);
  const rec = await client.dns.records.create({ zone_id: zone.id, type: 'A', name: 'www.example.com', content: '203.0.113.10', ttl: 1, comment: 'managed-by=coreflow cluster=x' });
  t.match(rec, { name: 'www.example.com', content: '203.0.113.10', comment: 'managed-by=coreflow cluster=x' });
  for (let i = 0; i < 11; i++) fake.addRecord('example.com', { type: 'TXT', name: `t${i}.example.com`, content: `v${i}` });
  const all = [];
  for await (const r of client.dns.records.list({ zone_id: zone.id, per_page: 5 })) all.push(r);
  t.equal(all.length, 12, "the SDK's iterator ends at the empty page after the last");
  await client.dns.records.update(rec.id, { zone_id: zone.id, type: 'A', name: 'www.example.com', content: '203.0.113.11', ttl: 300 });
  t.equal(fake.records('example.com').find((r) => r.id === rec.id)?.content, '203.0.113.11');
  await client.dns.records.delete(rec.id, { zone_id: zone.id });
  const err = await client.dns.records.delete(rec.id, { zone_id: zone.id }).catch((e: unknown) => e);
  t.ok(err instanceof APIError);
  t.equal((err as APIError).status, 404);
  t.match((err as APIError).errors, [{ code: 81044, message: 'Record does not exist.' }]);
  const bad = new Cloudflare({ apiToken: 'wrong', baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
  const authErr = await bad.zones.list().catch((e: unknown) => e);
  t.equal((authErr as APIError).status, 401);
});
