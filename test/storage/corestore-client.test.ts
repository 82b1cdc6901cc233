import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { isCoreflowError } from '../../ts/errors.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { CorestoreClient } from '../../ts/storage/corestore-client.ts';
import { FakeCorestore } from '../fakes/corestore.ts';

const owner = { cluster: 'c1', service: 'orders' };
const fast = { baseBackoffMs: 5 };

function scope(log = silentLogger()) {
  return { signal: new AbortController().signal, log };
}

t.test('provision is idempotent and sends the token; list returns the cluster\'s bindings', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: fast });
  const a = await client.provision({ type: 'database', name: 'orders', owner, options: {} }, scope());
  const b = await client.provision({ type: 'database', name: 'orders', owner, options: {} }, scope());
  t.same(b, a, 'the same resource twice');
  t.equal(fake.bindings().length, 1);
  t.ok(fake.requests.every((r) => r.authorization === `Bearer ${fake.token}`));
  t.match(a.env.MONGODB_URI, fake.marker);
  const listed = await client.list('c1', scope());
  t.same(listed, [a]);
  await client.release({ type: 'database', name: 'orders', owner }, scope());
  await client.release({ type: 'database', name: 'orders', owner }, scope());
  t.same(fake.bindings(), [], 'released; a second release is fine (404)');
});

t.test('409: COREFLOW_ERR_BINDING_NAME_IN_USE, terminal, no retry', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  fake.seed('database', 'shared', { cluster: 'other', service: 'x' });
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: fast });
  const err = await client.provision({ type: 'database', name: 'shared', owner, options: {} }, scope()).catch((e: unknown) => e);
  t.ok(isCoreflowError(err, 'COREFLOW_ERR_BINDING_NAME_IN_USE'));
  t.equal((err as { terminal: boolean }).terminal, true);
  t.equal(fake.writes().length, 1);
});

t.test('5xx, 429 and dropped connections are retried with backoff, then succeed', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: fast });
  fake.inject({ status: 500 });
  fake.inject({ status: 429, retryAfter: 0 });
  fake.inject({ drop: true });
  t.same(await client.list('c1', scope()), []);
  t.equal(fake.requests.length, 4);
});

t.test('persistent failures end in typed errors; the token never appears in them', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const lines: string[] = [];
  const log = pino({ level: 'trace' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: { ...fast, maxAttempts: 2 }, timeoutMs: 150 });
  fake.inject({ status: 500, times: Infinity });
  const e500 = await client.list('c1', scope(log)).catch((e: unknown) => e);
  t.ok(isCoreflowError(e500, 'COREFLOW_ERR_CORESTORE_API'), String(e500));
  t.equal(fake.requests.length, 2, 'retried once, then gave up');
  fake.clearFailures();
  fake.inject({ hang: true, times: Infinity });
  const hung = await client.list('c1', scope(log)).catch((e: unknown) => e);
  t.ok(isCoreflowError(hung, 'COREFLOW_ERR_CORESTORE_UNREACHABLE'), String(hung));
  t.match((hung as Error).message, /no answer within 150 ms/);
  fake.clearFailures();
  const wrong = new CorestoreClient({ baseUrl: fake.url, token: async () => 'wrong-token', retry: fast });
  const refused = await wrong.list('c1', scope(log)).catch((e: unknown) => e);
  t.ok(isCoreflowError(refused, 'COREFLOW_ERR_CORESTORE_REFUSED'));
  t.equal((refused as { terminal: boolean }).terminal, true);
  const none = new CorestoreClient({ baseUrl: fake.url, token: async () => undefined });
  t.ok(isCoreflowError(await none.list('c1', scope()).catch((e: unknown) => e), 'COREFLOW_ERR_CORESTORE_NO_TOKEN'));
  const text = [String(e500), String(hung), String(refused), ...lines].join('\n');
  t.notOk(text.includes(fake.token), 'the token is in no error or log line');
  t.ok(lines.length > 0, 'retries were logged');
});

t.test('unreachable (nothing listening): COREFLOW_ERR_CORESTORE_UNREACHABLE naming the URL', async (t) => {
  const fake = await FakeCorestore.start();
  const url = fake.url;
  await fake.close();
  const client = new CorestoreClient({ baseUrl: url, token: async () => 'x', retry: { ...fast, maxAttempts: 2 } });
  const err = await client.list('c1', scope()).catch((e: unknown) => e);
  t.ok(isCoreflowError(err, 'COREFLOW_ERR_CORESTORE_UNREACHABLE'));
  t.match((err as Error).message, url);
});

t.test('an aborted run stops waiting at once', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  fake.inject({ hang: true });
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token });
  const ac = new AbortController();
  const pending = client.list('c1', { signal: ac.signal, log: silentLogger() }).catch((e: unknown) => e);
  await t.resolves(new Promise<void>((resolve) => { const i = setInterval(() => { if (fake.requests.length > 0) { clearInterval(i); resolve(); } }, 5); }));
  ac.abort();
  t.ok(isCoreflowError(await pending, 'COREFLOW_ERR_CORESTORE_UNREACHABLE'));
});
