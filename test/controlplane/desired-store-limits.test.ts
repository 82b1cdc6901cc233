import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { DesiredStore } from '../../ts/controlplane/desired-store.ts';
import { DEFAULT_SPEC_LIMITS } from '../../ts/spec/limits.ts';
import { testDoc } from '../helpers/swarm.ts';

const dir = await mkdtemp(join(tmpdir(), 'coreflow-store-limits-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('the control plane holds its spec file and every PATCHed document to the limits', async (t) => {
  const path = join(dir, 'spec.yaml');
  await writeFile(path, stringify(testDoc('cf4limits')));
  const store = new DesiredStore(path, { ...DEFAULT_SPEC_LIMITS, maxServices: 2 });
  await store.load();
  const text = await readFile(path, 'utf8');

  const big = await store.updateService({ name: 'web', image: 'busybox:1', environment: { BIG: 'v'.repeat(300_000) } });
  t.same(big, { ok: false, errors: ['services[0].environment.BIG: the value is 300000 bytes, over the limit of 262144 bytes (setting COREFLOW_SPEC_MAX_VALUE_BYTES, --spec-max-value-bytes)'] });
  t.match(await store.updateService({ name: 'a', image: 'busybox:1' }), { ok: true, changed: true });
  t.match(await store.updateService({ name: 'b', image: 'busybox:1' }), { ok: true, changed: true });
  const third = await store.updateService({ name: 'c', image: 'busybox:1' });
  t.same(third, { ok: false, errors: ['services: the number of services is 3, over the limit of 2 (setting COREFLOW_SPEC_MAX_SERVICES, --spec-max-services)'] });
  t.same((store.document.services as { name: string }[]).map((s) => s.name), ['a', 'b'], 'refused updates changed nothing');
  t.not(await readFile(path, 'utf8'), text, 'the accepted ones were written');

  const tight = new DesiredStore(path, { ...DEFAULT_SPEC_LIMITS, maxBytes: 1024 });
  await writeFile(path, `${await readFile(path, 'utf8')}# ${'padding '.repeat(200)}\n`);
  await t.rejects(tight.load(), { code: 'COREFLOW_ERR_SPEC_LIMIT', message: /the size is \d+ bytes, over the limit of 1024 bytes \(setting COREFLOW_SPEC_MAX_BYTES/ });
});
