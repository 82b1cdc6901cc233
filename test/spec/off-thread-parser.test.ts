import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../../ts/observe/logger.ts';
import { DEFAULT_SPEC_LIMITS } from '../../ts/spec/limits.ts';
import { OffThreadParser } from '../../ts/spec/off-thread-parser.ts';
import { loadSpecFile, specErrors, validateSpec } from '../../ts/spec/parse.ts';
import { refusalOf } from '../helpers/refusal.ts';
import { until } from '../helpers/swarm.ts';

const dir = await mkdtemp(join(tmpdir(), 'coreflow-parser-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const example = new URL('../../examples/cluster.yaml', import.meta.url).pathname;

/** A YAML file of `bytes` of distinct keys: valid YAML that costs yaml seconds per MB, then fails the schema. */
async function heavyFile(name: string, bytes: number): Promise<string> {
  const lines: string[] = [];
  for (let n = 0, i = 0; n < bytes; i++) {
    const line = `key${i}: value ${i}\n`;
    lines.push(line);
    n += line.length;
  }
  const path = join(dir, name);
  await writeFile(path, lines.join(''));
  return path;
}

t.test('files and documents come back as the calling thread would have parsed them, from one reused worker', async (t) => {
  const parser = new OffThreadParser({ limits: DEFAULT_SPEC_LIMITS, timeoutMs: 30_000, log: silentLogger(), idleMs: 60_000 });
  t.teardown(() => parser.close());
  const fromFile = await parser.loadFile(example);
  t.same(fromFile, await loadSpecFile(example), 'same spec and hash as on this thread');
  const doc = { apiVersion: 'coreflow/v1', cluster: { name: 'demo' }, services: [{ name: 'a', image: 'x:1' }] };
  t.equal((await parser.validate(doc)).hash, validateSpec(doc).hash);
  // Services come back in batches: all of them, in order.
  const many = { ...doc, services: Array.from({ length: 234 }, (_, i) => ({ name: `s${i}`, image: 'x:1', environment: { I: i } })) };
  t.same(await parser.validate(many), validateSpec(many), 'a spec of 234 services arrives whole');
  const invalid = await refusalOf(parser.validate({ apiVersion: 'coreflow/v1', cluster: { name: 'demo' }, services: [{ name: 'a', image: 'x:1', scaleFactor: -1 }] }));
  t.equal(invalid.code, 'COREFLOW_ERR_SPEC_INVALID');
  t.same(specErrors(invalid), ['services[0].scaleFactor: expected a number >= 0']);
  const limited = await refusalOf(new OffThreadParser({ limits: { ...DEFAULT_SPEC_LIMITS, maxServices: 0 }, timeoutMs: 30_000, log: silentLogger() }).validate(doc));
  t.equal(limited.code, 'COREFLOW_ERR_SPEC_LIMIT', 'the limits given apply in the worker');
  const missing = await refusalOf(parser.loadFile(join(dir, 'nope.yaml')));
  t.equal(missing.code, 'COREFLOW_ERR_SPEC_READ');
  t.equal(parser.workersStarted, 1, 'every request used the same worker');
});

t.test('a parse over its deadline stops the worker and is rejected; the next one gets a new worker', async (t) => {
  const parser = new OffThreadParser({ limits: DEFAULT_SPEC_LIMITS, timeoutMs: 500, log: silentLogger(), idleMs: 60_000 });
  t.teardown(() => parser.close());
  await parser.loadFile(example); // the worker is up: the deadline below is the parse's alone
  const heavy = await heavyFile('heavy.yaml', 3_000_000);
  const err = await refusalOf(parser.loadFile(heavy));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.equal(err.message, `spec file ${heavy}: the parse time is more than 500 ms, over the limit of 500 ms (setting COREFLOW_SPEC_PARSE_TIMEOUT_MS, --spec-parse-timeout-ms)`);
  t.equal((await parser.loadFile(example)).spec.cluster.name, 'example', 'the next document parses');
  t.equal(parser.workersStarted, 2, 'in a new worker');
});

t.test('a worker that runs out of memory rejects that document only', async (t) => {
  const parser = new OffThreadParser({ limits: DEFAULT_SPEC_LIMITS, timeoutMs: 60_000, log: silentLogger(), maxHeapMb: 96, idleMs: 60_000 });
  t.teardown(() => parser.close());
  const heavy = await heavyFile('oom.yaml', 4_000_000);
  const err = await refusalOf(parser.loadFile(heavy));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_PARSE');
  t.match(err.message, `cannot parse spec file ${heavy}: the parser stopped`);
  t.match(err.message, /memory/);
  t.equal((await parser.loadFile(example)).spec.cluster.name, 'example', 'the next document parses');
  t.equal(parser.workersStarted, 2);
});

t.test('an idle worker is stopped (its memory given back); the next document starts a new one', async (t) => {
  const parser = new OffThreadParser({ limits: DEFAULT_SPEC_LIMITS, timeoutMs: 30_000, log: silentLogger(), idleMs: 50 });
  t.teardown(() => parser.close());
  const doc = { apiVersion: 'coreflow/v1', cluster: { name: 'idle' } };
  t.equal((await parser.validate(doc)).spec.cluster.name, 'idle');
  t.ok(parser.alive, 'the worker stays for the next document');
  await until('the idle worker to stop', () => !parser.alive);
  t.equal((await parser.validate(doc)).spec.cluster.name, 'idle', 'a later document is parsed by a new worker');
  t.equal(parser.workersStarted, 2);
});
