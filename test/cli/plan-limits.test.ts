import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

const exec = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'coreflow-plan-limits-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function plan(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const r = await exec(process.execPath, ['bin/coreflow.js', 'plan', ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

// 3,561 services whose labels nest 1,500 levels (32 MB): unbounded, yaml needs gigabytes for it, or aborts.
const labels = '{"a":'.repeat(1500) + '"x"' + '}'.repeat(1500);
const services = Array.from({ length: 3561 }, (_, i) => `{"name":"s${i}","image":"x:1","labels":${labels}}`);
const nested = join(dir, 'nested.json');
await writeFile(nested, `{"apiVersion":"coreflow/v1","cluster":{"name":"c"},"services":[${services.join(',')}]}`);

t.test('plan refuses a spec file over the size limit before reading it', async (t) => {
  const out = await plan(['--spec', nested]);
  t.equal(out.code, 1);
  t.match(out.stderr, /coreflow plan: spec file \S+nested\.json: the size is \d+ bytes, over the limit of 4194304 bytes \(setting COREFLOW_SPEC_MAX_BYTES, --spec-max-bytes\) \[COREFLOW_ERR_SPEC_LIMIT\]/);
});

t.test('with the size limit raised, plan refuses it for its depth, and the settings reach plan', async (t) => {
  const out = await plan(['--spec', nested, '--spec-max-bytes', String(64 * 1024 * 1024)]);
  t.equal(out.code, 1);
  t.match(out.stderr, /nested\.json at line 1, column \d+: the nesting depth is more than 32 levels, over the limit of 32 levels \(setting COREFLOW_SPEC_MAX_DEPTH, --spec-max-depth\) \[COREFLOW_ERR_SPEC_LIMIT\]/);
  const shallower = await plan(['--spec', nested, '--spec-max-bytes', String(64 * 1024 * 1024), '--spec-max-depth', '8']);
  t.match(shallower.stderr, 'over the limit of 8 levels', 'the depth setting too');
});
