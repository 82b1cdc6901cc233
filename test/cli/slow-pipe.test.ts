import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { TEST_IMAGE, testDoc } from '../helpers/swarm.ts';

const exec = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'cf-pipe-'));
const root = new URL('../..', import.meta.url).pathname;

/**
 * Runs `coreflow ARGS` with one of its streams into a pipe whose reader only starts reading a
 * second later (a slow `| jq`, a CI log collector): the pipe's 64 KiB buffer fills long before
 * the command is done. Resolves with what the reader got and the command's exit code.
 */
async function throughSlowPipe(args: string[], stream: 'stdout' | 'stderr'): Promise<{ text: string; code: number }> {
  const cmd = `node bin/coreflow.js ${args.map((a) => `'${a}'`).join(' ')}`;
  const redirect = stream === 'stdout' ? '2>/dev/null' : '2>&1 >/dev/null';
  const script = `${cmd} ${redirect} | (sleep 1; cat); exit "\${PIPESTATUS[0]}"`;
  try {
    const r = await exec('bash', ['-c', script], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    return { text: r.stdout, code: 0 };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { text: e.stdout, code: e.code };
  }
}

t.test('plan --json through a slow pipe: the whole document arrives and parses', async (t) => {
  const doc = testDoc('pipe');
  const id = doc.cluster.name;
  // About 300 KB of JSON, several times the pipe's buffer.
  doc.services = Array.from({ length: 1500 }, (_, i) => ({ name: `${id}-s${i}`, image: TEST_IMAGE, scaleFactor: 0, environment: { A: 'x'.repeat(50) } }));
  const file = join(dir, 'big.json');
  await writeFile(file, JSON.stringify(doc));
  const out = await throughSlowPipe(['plan', '--json', '--spec', file], 'stdout');
  t.equal(out.code, 2, 'exit 2: changes planned');
  t.ok(out.text.length > 4 * 65536, `output of ${out.text.length} bytes`);
  const result = JSON.parse(out.text) as { dryRun: boolean; summary: { creates: number } };
  t.equal(result.dryRun, true);
  t.equal(result.summary.creates, 1502, 'both networks and every service planned');
});

t.test('an error through a slow pipe: every line and the code at the end arrive', async (t) => {
  const doc = testDoc('pipe');
  // 100 problems (the most a rejection lists), each naming a 3,000-character label key: about
  // 300 KB of error text, several times the pipe's buffer.
  doc.services = Array.from({ length: 100 }, (_, i) => ({ name: `bad-${i}`, image: TEST_IMAGE, labels: { [`coreflow.${'k'.repeat(3000)}${i}`]: 'v' } }));
  const file = join(dir, 'invalid.json');
  await writeFile(file, JSON.stringify(doc));
  const out = await throughSlowPipe(['plan', '--spec', file], 'stderr');
  t.equal(out.code, 1);
  t.ok(out.text.length > 4 * 65536, `output of ${out.text.length} bytes`);
  t.match(out.text, `services[0].labels.coreflow.${'k'.repeat(3000)}0:`);
  t.ok(out.text.trimEnd().endsWith(`services[99].labels.coreflow.${'k'.repeat(3000)}99: label keys starting with "coreflow." are reserved [COREFLOW_ERR_SPEC_INVALID]`), 'the last error and the code are there');
});
