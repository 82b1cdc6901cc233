import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../ts/config/config.ts';
import { DEFAULT_SPEC_LIMITS, specLimits } from '../../ts/spec/limits.ts';
import { loadSpecFile, MAX_LISTED_PROBLEMS, specErrors, validateSpec } from '../../ts/spec/parse.ts';
import { parseSpec } from '../../ts/spec/spec-text.ts';
import { refusal, refusalOf } from '../helpers/refusal.ts';

const minimal = { apiVersion: 'coreflow/v1', cluster: { name: 'demo' } };
const dir = await mkdtemp(join(tmpdir(), 'coreflow-limits-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** Heap and buffers in use: what reading or parsing a document would make grow. */
const inUse = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;

/** `depth` levels of `{"a": ...}` around a string, as JSON text. */
const nestedJson = (depth: number) => '{"a":'.repeat(depth) + '"x"' + '}'.repeat(depth);

t.test('a file over the size limit is refused by its size, without being read', async (t) => {
  const path = join(dir, 'huge.yaml');
  const file = await open(path, 'w');
  await file.truncate(64 * 1024 * 1024); // sparse: 64 MiB that cost no disk
  await file.close();
  const before = inUse();
  const err = await refusalOf(loadSpecFile(path));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.match(err.message, `spec file ${path}: the size is 67108864 bytes, over the limit of 4194304 bytes (setting COREFLOW_SPEC_MAX_BYTES, --spec-max-bytes)`);
  t.ok(inUse() - before < 4 * 1024 * 1024, 'the 64 MiB were not read into memory');
  const small = await refusalOf(loadSpecFile(path, { ...DEFAULT_SPEC_LIMITS, maxBytes: 1024 }));
  t.match(small.message, 'over the limit of 1024 bytes');
});

t.test('text and pushed documents over the size limit are refused', async (t) => {
  const limits = { ...DEFAULT_SPEC_LIMITS, maxBytes: 10_000 };
  const services = Array.from({ length: 500 }, (_, i) => ({ name: `s${i}`, image: 'x:1' }));
  const pushed = refusal(() => validateSpec({ ...minimal, services }, limits));
  t.equal(pushed.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.match(pushed.message, 'the document: the size as JSON is more than 10000 bytes, over the limit of 10000 bytes (setting COREFLOW_SPEC_MAX_BYTES');
  const text = refusal(() => parseSpec(JSON.stringify({ ...minimal, services }), 'pushed.json', limits));
  t.match(text.message, /^pushed\.json: the size is \d+ bytes, over the limit of 10000 bytes/);
  t.ok(validateSpec({ ...minimal, services: services.slice(0, 10) }, limits), 'a document within the limit passes');
});

t.test('a deeply nested document is refused while it is tokenised, before yaml builds it', async (t) => {
  // Services whose labels nest 1,500 levels deep: unbounded, yaml's recursion exhausts memory or the stack.
  const services = Array.from({ length: 100 }, (_, i) => `{"name":"s${i}","image":"x:1","labels":${nestedJson(1500)}}`);
  const text = `{"apiVersion":"coreflow/v1","cluster":{"name":"c"},"services":[${services.join(',')}]}`;
  const before = inUse();
  const err = refusal(() => parseSpec(text, 'deep.json'));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.match(err.message, /^deep\.json at line 1, column \d+: the nesting depth is more than 32 levels, over the limit of 32 levels \(setting COREFLOW_SPEC_MAX_DEPTH, --spec-max-depth\)/);
  t.ok(inUse() - before < 16 * 1024 * 1024, `stopped early: ${text.length} bytes of text, no document built`);

  const blocks = Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n');
  const yaml = refusal(() => parseSpec(`${blocks} x\n`, 'deep.yaml'));
  t.match(yaml.message, 'the nesting depth is more than 32 levels', 'block nesting too');

  const pushed = { ...minimal, services: [{ name: 's', image: 'x:1', labels: JSON.parse(nestedJson(40)) as unknown }] };
  const doc = refusal(() => validateSpec(pushed));
  t.match(doc.message, /^services\[0\]\.labels(\.a)+: the nesting depth is more than 32 levels/, 'a pushed document names the path');
  const deeper = refusal(() => validateSpec(pushed, { ...DEFAULT_SPEC_LIMITS, maxDepth: 8 }));
  t.match(deeper.message, 'more than 8 levels, over the limit of 8 levels');
});

t.test('more services than the limit are refused before the schema runs', async (t) => {
  // Records the schema would reject one by one: the limit answers first, with one error.
  const services = Array.from({ length: 2001 }, () => ({ bad: true }));
  const err = refusal(() => validateSpec({ ...minimal, services }));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.equal(err.message, 'services: the number of services is 2001, over the limit of 2000 (setting COREFLOW_SPEC_MAX_SERVICES, --spec-max-services)');
  const fewer = refusal(() => validateSpec({ ...minimal, services: services.slice(0, 3) }, { ...DEFAULT_SPEC_LIMITS, maxServices: 2 }));
  t.match(fewer.message, 'the number of services is 3, over the limit of 2');
});

t.test('one string over the value limit is refused by its path, never echoed', async (t) => {
  const big = `SECRET-${'s'.repeat(300_000)}`;
  const doc = { ...minimal, secretBundles: [{ id: 'b', values: { CERT: big } }] };
  const err = refusal(() => validateSpec(doc));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.equal(err.message, `secretBundles[0].values.CERT: the value is ${big.length} bytes, over the limit of 262144 bytes (setting COREFLOW_SPEC_MAX_VALUE_BYTES, --spec-max-value-bytes)`);
  t.notMatch(err.message, 'SECRET-', 'the value is not in the message');
  const key = refusal(() => validateSpec({ ...minimal, services: [{ name: 's', image: 'x:1', labels: { ['k'.repeat(300)]: 'v' } }] }, { ...DEFAULT_SPEC_LIMITS, maxValueBytes: 256 }));
  t.match(key.message, 'the key is 300 bytes, over the limit of 256 bytes');
  // One huge plain scalar, as in `x: xxxx...`.
  const scalar = refusal(() => parseSpec(`x: ${'x'.repeat(1_000_000)}\n`, 'garbage.yaml'));
  t.match(scalar.message, 'x: the value is 1000000 bytes, over the limit of 262144 bytes');
});

t.test('YAML aliases are bounded: no billion laughs', async (t) => {
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const before = inUse();
  const err = refusal(() => parseSpec(`${laughs.join('\n')}\n`, 'laughs.yaml'));
  t.equal(err.code, 'COREFLOW_ERR_SPEC_LIMIT');
  t.equal(err.message, 'laughs.yaml: the YAML alias expansion is more than 100, over the limit of 100 (setting COREFLOW_SPEC_MAX_ALIASES, --spec-max-aliases)');
  t.ok(inUse() - before < 16 * 1024 * 1024, 'nothing was expanded');

  const shared = 'apiVersion: coreflow/v1\ncluster: {name: demo}\nservices:\n  - {name: a, image: "x:1", environment: &env {A: "1"}}\n  - {name: b, image: "x:1", environment: *env}\n';
  t.same(parseSpec(shared).spec.services.map((s) => s.environment), [{ A: '1' }, { A: '1' }], 'a few aliases are fine');
  const none = refusal(() => parseSpec(shared, 'shared.yaml', { ...DEFAULT_SPEC_LIMITS, maxAliases: 0 }));
  t.match(none.message, 'the YAML alias expansion is more than 0, over the limit of 0');
});

t.test('a document with many problems lists the first ones and counts the rest', async (t) => {
  const services = Array.from({ length: 150 }, (_, i) => ({ name: `s${i}`, image: 'x:1', scaleFactor: -1 }));
  const err = refusal(() => validateSpec({ ...minimal, services }));
  const errors = specErrors(err);
  t.equal(errors.length, MAX_LISTED_PROBLEMS + 1);
  t.equal(errors[0], 'services[0].scaleFactor: expected a number >= 0');
  t.equal(errors.at(-1), '(and 50 more problems)');
});

t.test('a spec file within the limits loads as before', async (t) => {
  const path = join(dir, 'ok.yaml');
  await writeFile(path, 'apiVersion: coreflow/v1\ncluster: {name: demo}\nservices:\n  - {name: a, image: "x:1"}\n');
  t.equal((await loadSpecFile(path)).spec.services[0]?.name, 'a');
  const missing = await refusalOf(loadSpecFile(join(dir, 'nope.yaml')));
  t.equal(missing.code, 'COREFLOW_ERR_SPEC_READ');
});

t.test('the limits are settings: defaults as documented, bad values named', async (t) => {
  const config = await loadConfig({}, dir);
  t.same(specLimits(config), DEFAULT_SPEC_LIMITS);
  t.same(DEFAULT_SPEC_LIMITS, { maxBytes: 4194304, maxDepth: 32, maxServices: 2000, maxValueBytes: 262144, maxAliases: 100 });
  t.equal(config.specParseTimeoutMs, 30000);
  t.same(specLimits(await loadConfig({ specMaxServices: '5000', specMaxDepth: '64' }, dir)), { ...DEFAULT_SPEC_LIMITS, maxServices: 5000, maxDepth: 64 });
  await t.rejects(loadConfig({ specMaxDepth: '4', specMaxBytes: 'lots' }, dir), {
    code: 'COREFLOW_ERR_CONFIG_INVALID',
    message: /COREFLOW_SPEC_MAX_BYTES \(--spec-max-bytes\): expected bytes[\s\S]*COREFLOW_SPEC_MAX_DEPTH \(--spec-max-depth\): expected at least 8 levels/,
  });
});
