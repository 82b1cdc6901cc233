import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { ControlPlane } from '../../ts/controlplane/control-plane.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { MAX_DOCUMENT_BYTES } from '../../ts/protocol/envelope.ts';
import { ControlPlaneSource } from '../../ts/sources/controlplane-source.ts';
import { DesiredState } from '../../ts/sources/desired-state.ts';
import { httpJson } from '../helpers/controlplane-procs.ts';
import { TEST_IMAGE, testDoc, waitFor } from '../helpers/swarm.ts';

const TOKEN = 'oversized-patch-token-0123456789';

/** A service of about 300 KB: 30 environment values of 10 KB each. */
function bulky(name: string) {
  return { name, image: TEST_IMAGE, scaleFactor: 0, environment: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`V${i}`, `${i}`.padEnd(10_000, 'x')])) };
}

t.test('a PATCH that would make the document undeliverable is refused with 413; later documents are still pushed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-413-'));
  const specPath = join(dir, 'spec.yaml');
  const doc = testDoc('big');
  await writeFile(specPath, stringify(doc));
  const cp = new ControlPlane({ specPath, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger(), pingIntervalMs: 0 });
  await cp.start();
  const desired = new DesiredState();
  const agent = new ControlPlaneSource({ url: `ws://127.0.0.1:${cp.port}`, token: TOKEN, stateDir: dir, desired, log: silentLogger(), reconnectMaxMs: 1000, pingIntervalMs: 60_000, authRetryMs: 1000 });
  await agent.start();
  t.teardown(async () => {
    await agent.stop();
    await cp.stop();
  });
  const patch = `http://127.0.0.1:${cp.port}/v1/services/update`;
  const names = (): string[] => desired.get()?.spec.services.map((s) => s.name) ?? [];

  for (const n of ['big-1', 'big-2', 'big-3']) {
    const ok = await httpJson('PATCH', patch, TOKEN, { service: bulky(n) });
    t.equal(ok.status, 200, `${n}: still fits`);
  }
  await waitFor('the agent to have three bulky services', async () => names().length === 3 || undefined, 10_000, 20);
  const hashBefore = desired.get()?.hash;

  const refused = await httpJson('PATCH', patch, TOKEN, { service: bulky('big-4') });
  t.equal(refused.status, 413);
  t.match(refused.body, { code: 'COREFLOW_ERR_DOCUMENT_TOO_LARGE', limit: MAX_DOCUMENT_BYTES, error: /would be \d+ bytes, over the \d+ bytes agents can receive in one protocol frame; nothing was changed/ });
  t.ok((refused.body.size as number) > MAX_DOCUMENT_BYTES, `size ${String(refused.body.size)} named`);
  const held = parse(await readFile(specPath, 'utf8')) as { services: { name: string }[] };
  t.same(held.services.map((s) => s.name), ['big-1', 'big-2', 'big-3'], 'the spec file is unchanged');

  const small = await httpJson('PATCH', patch, TOKEN, { service: { name: 'small', image: TEST_IMAGE, scaleFactor: 0 } });
  t.equal(small.status, 200);
  t.equal(small.body.agents, 1, 'pushed to the agent');
  await waitFor('the agent to get the later document', async () => names().includes('small') || undefined, 10_000, 20);
  t.not(desired.get()?.hash, hashBefore);
  t.same(names(), ['big-1', 'big-2', 'big-3', 'small']);
});
