import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { badSpecText, SPEC_REJECTED, startFileAgent, startHealthProbe } from '../helpers/hostile-spec.ts';

t.test('the agent answers /healthz within 100 ms while it rejects a 10 MB bad spec file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-file-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { agent, port, spec } = await startFileAgent(dir);
  t.teardown(() => agent.stop());
  // Renamed in, as editors save.
  const bad = join(dir, 'bad.tmp');
  await writeFile(bad, badSpecText());

  // A health checker's pattern, not a flood; in its own process.
  const probe = await startHealthProbe(port);
  await rename(bad, spec);
  const rejected = await agent.waitForLog('the 10 MB file rejected', (l) => l.msg === SPEC_REJECTED && JSON.stringify(l.errors).includes('x: unknown key'));
  const latencies = await probe.stop();

  t.match(rejected.errors, ['apiVersion: expected "coreflow/v1"', 'cluster: required', 'x: unknown key'], 'the whole document was parsed and validated');
  const slowest = Math.max(...latencies);
  t.ok(latencies.length >= 10, `/healthz was asked ${latencies.length} times while the file was parsed`);
  t.ok(slowest < 100, `every /healthz answered within 100 ms (slowest ${slowest.toFixed(1)} ms)`);
  t.ok(agent.proc.exitCode === null, 'the agent still runs');
});
