import t from 'tap';
import { isCoreflowError } from '../../ts/errors.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { CorestoreClient } from '../../ts/storage/corestore-client.ts';
import { corestoreBindingSnapshots, getRestore, getSnapshot, listSnapshots, snapshotIdFor, startRestore, startSnapshot } from '../../ts/storage/corestore-snapshots.ts';
import { FakeCorestore } from '../fakes/corestore.ts';

const owner = { cluster: 'c1', service: 'orders' };
const scope = () => ({ signal: new AbortController().signal, log: silentLogger() });

t.test('snapshot endpoints as docs/corestore.md says: pending then ready, idempotent on the id, restore, errors', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: { baseBackoffMs: 5 } });
  fake.seed('database', 'orders', owner);
  const b = { type: 'database' as const, name: 'orders', owner };

  const started = await startSnapshot(client, b, 'snap-1', scope());
  t.match(started, { id: 'snap-1', state: 'pending', createdAt: String });
  t.match(await startSnapshot(client, b, 'snap-1', scope()), { id: 'snap-1' }, 'the same id again: the same snapshot');
  t.equal(fake.snapshots.get('database/orders')!.length, 1);
  t.match(await getSnapshot(client, b, 'snap-1', scope()), { state: 'pending' }, 'the first read still pending');
  t.match(await getSnapshot(client, b, 'snap-1', scope()), { state: 'ready', sizeBytes: 4096 });
  t.same((await listSnapshots(client, b, scope())).map((s) => s.id), ['snap-1']);

  const restore = await startRestore(client, b, 'snap-1', scope());
  t.match(restore, { id: /^rst-/, state: 'pending' });
  await getRestore(client, b, restore.id, scope());
  t.match(await getRestore(client, b, restore.id, scope()), { state: 'ready' });

  const unknown = await startRestore(client, b, 'snap-nope', scope()).catch((e: unknown) => e);
  t.ok(isCoreflowError(unknown, 'COREFLOW_ERR_CORESTORE_REFUSED'), '404 for an unknown snapshot');
  const other = await startSnapshot(client, { ...b, owner: { cluster: 'c2', service: 'x' } }, 'snap-2', scope()).catch((e: unknown) => e);
  t.ok(isCoreflowError(other, 'COREFLOW_ERR_BINDING_NAME_IN_USE'), 'another owner: 409');
  const bad = await startSnapshot(client, b, 'Not An Id', scope()).catch((e: unknown) => e);
  t.ok(isCoreflowError(bad, 'COREFLOW_ERR_CORESTORE_REFUSED'), 'a bad id: 400');
  t.ok(fake.requests.every((r) => r.authorization === `Bearer ${fake.token}`), 'the token on every request');
  const raw = await fetch(`${fake.url}/v1/bindings/database/orders/snapshots`);
  t.equal(raw.status, 401, 'no token: 401');
});

t.test('BindingSnapshots: the service\'s bindings, snapshot and restore polled to the end', async (t) => {
  const fake = await FakeCorestore.start();
  t.teardown(() => fake.close());
  const client = new CorestoreClient({ baseUrl: fake.url, token: async () => fake.token, retry: { baseBackoffMs: 5 } });
  fake.seed('database', 'orders', owner);
  fake.seed('objectstorage', 'orders-files', owner);
  fake.seed('database', 'billing', { cluster: 'c1', service: 'billing' });
  const snaps = corestoreBindingSnapshots(client, silentLogger(), { pollMs: 5 });
  const bindings = await snaps.bindings('c1', 'orders', new AbortController().signal);
  t.same(bindings.map((b) => `${b.type}/${b.name}`).sort(), ['database/orders', 'objectstorage/orders-files']);
  const id = snapshotIdFor('bk-20261127t044501z-3f9a1c', bindings[0]!);
  t.match(id, /^bk-20261127t044501z-3f9a1c-[0-9a-f]{8}$/);
  t.same(await snaps.snapshot(bindings[0]!, id, new AbortController().signal), { sizeBytes: 4096 });
  const before = fake.binding(bindings[0]!.type, bindings[0]!.name)!;
  await snaps.restore(bindings[0]!, id, new AbortController().signal);
  t.match(fake.restores.get(`${before.type}/${before.name}`), [{ snapshotId: id, state: 'ready' }]);
});
