import { readFile } from 'node:fs/promises';
import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { specErrors, validateSpec } from '../../ts/spec/parse.ts';
import { parseSpec } from '../../ts/spec/spec-text.ts';

const minimal = { apiVersion: 'coreflow/v1', cluster: { name: 'demo' } };

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoreflowError && err.code === 'COREFLOW_ERR_SPEC_INVALID') return specErrors(err);
    throw err;
  }
  throw new Error('expected the spec to be rejected');
}

t.test('the bundled example is valid and gets the documented defaults', async (t) => {
  const { spec } = parseSpec(await readFile(new URL('../../examples/cluster.yaml', import.meta.url), 'utf8'));
  t.equal(spec.cluster.name, 'example');
  t.equal(spec.networks.gateway.name, 'sznwebgateway');
  t.equal(spec.networks.internal.name, 'szncorechat');
  t.same(spec.baseServices.coretraffic.ports.map((p) => [p.published, p.target]), [[80, 7999], [443, 8000]]);
  const worker = spec.services.find((s) => s.name === 'worker')!;
  t.equal(worker.resources.memoryLimitMB, 512);
  const global = spec.services.find((s) => s.name === 'metrics-agent')!;
  t.equal(global.mode, 'global');
});

t.test('defaults: 1000 MB memory limit, replicated, base services on', async (t) => {
  const { spec } = validateSpec({ ...minimal, services: [{ name: 'a', image: 'x:1' }] });
  const a = spec.services[0]!;
  t.equal(a.resources.memoryLimitMB, 1000);
  t.equal(a.mode, 'replicated');
  t.equal(a.scaleFactor, 1);
  t.equal(spec.baseServices.corestore.enabled, true);
  t.equal(spec.baseServices.corestore.mounts.length, 2);
  t.equal(spec.guards.allowMassDeletion, false);
});

t.test('every error is listed with its path', async (t) => {
  const errors = errorsOf(() =>
    validateSpec({
      ...minimal,
      services: [
        { name: 'ok', image: 'x:1' },
        { name: 'b', image: 'x:1', ports: { web: 'eighty' } },
        { name: 'c', image: 'x:1', ports: { web: 70000 }, scaleFactor: -1, colour: 'red' },
        { name: 'bad name!', image: 'x:1', domains: [{ name: 'not a host' }] },
      ],
    }),
  );
  t.ok(errors.includes('services[1].ports.web: expected a port number'), errors.join('\n'));
  t.ok(errors.includes('services[2].ports.web: expected a port number (1-65535)'), errors.join('\n'));
  t.ok(errors.includes('services[2].scaleFactor: expected a number >= 0'), errors.join('\n'));
  t.ok(errors.includes('services[2].colour: unknown key'), errors.join('\n'));
  t.ok(errors.some((e) => e.startsWith('services[3].name: expected a Docker object name')), errors.join('\n'));
  t.ok(errors.some((e) => e.startsWith('services[3].domains[0].name: expected a hostname')), errors.join('\n'));
  t.equal(errors.length, 6, 'nothing else, nothing less');
});

t.test('unknown keys, missing fields and the wrong apiVersion are errors', async (t) => {
  const errors = errorsOf(() => validateSpec({ apiVersion: 'coreflow/v2', extra: true }));
  t.same(errors.sort(), ['apiVersion: expected "coreflow/v1"', 'cluster: required', 'extra: unknown key']);
});

t.test('duplicate names and base-service name clashes are rejected', async (t) => {
  const errors = errorsOf(() =>
    validateSpec({
      ...minimal,
      networks: { gateway: { name: 'same' }, internal: { name: 'same' } },
      services: [
        { name: 'a', image: 'x:1' },
        { name: 'a', image: 'y:1' },
        { name: 'coretraffic', image: 'z:1' },
      ],
    }),
  );
  t.ok(errors.includes('services[1].name: duplicate "a" (also services[0])'), errors.join('\n'));
  t.ok(errors.includes('networks.internal.name: must differ from networks.gateway.name ("same")'), errors.join('\n'));
  t.ok(errors.includes('services[2].name: "coretraffic" is the name of base service baseServices.coretraffic'), errors.join('\n'));
});

t.test('YAML syntax errors and empty documents are parse errors', async (t) => {
  t.throws(() => parseSpec('apiVersion: [unclosed', 'x.yaml'), { code: 'COREFLOW_ERR_SPEC_PARSE' });
  t.throws(() => parseSpec('', 'x.yaml'), { code: 'COREFLOW_ERR_SPEC_PARSE', message: /empty/ });
  t.throws(() => parseSpec('a: 1\na: 2\n', 'x.yaml'), { code: 'COREFLOW_ERR_SPEC_PARSE' });
});

t.test('a record key that fails its schema says what the key must be', async (t) => {
  t.same(errorsOf(() => validateSpec({ ...minimal, services: [{ name: 's', image: 'x:1', labels: { 'coreflow.x': 'v' }, environment: { '1BAD': 'v' } }] })), [
    'services[0].environment.1BAD: expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)',
    'services[0].labels.coreflow.x: label keys starting with "coreflow." are reserved',
  ]);
});

t.test('a JSON document: duplicate keys are refused as in YAML, with their line; a YAML flow mapping is not mistaken for JSON', async (t) => {
  const text = `{\n  "apiVersion": "coreflow/v1",\n  "cluster": {"name": "demo", "na\\u006de": "again"}\n}`;
  t.throws(() => parseSpec(text, 'x.json'), { code: 'COREFLOW_ERR_SPEC_PARSE', message: /cannot parse x\.json: Map keys must be unique \("name"\) at line 3, column 31/ });
  t.throws(() => parseSpec('{"apiVersion": "coreflow/v1", "apiVersion": "coreflow/v1"}', 'y.json'), { code: 'COREFLOW_ERR_SPEC_PARSE', message: /"apiVersion"/ });
  t.equal(parseSpec('{apiVersion: coreflow/v1, cluster: {name: demo}}').spec.cluster.name, 'demo', 'YAML flow style still reads as YAML');
  t.throws(() => parseSpec('{"apiVersion": "coreflow/v1", "cluster": {"name": "demo"}, "services": [{"name": "s", "labels": {"a": "1", "a": "2"}}]}', 'z.json'), { code: 'COREFLOW_ERR_SPEC_PARSE', message: /"a"/ }, 'in nested objects too');
  t.equal(parseSpec('{"apiVersion": "coreflow/v1", "cluster": {"name": "demo"}, "services": [{"name": "s", "image": "x:1"}, {"name": "t", "image": "x:1"}]}').spec.services.length, 2, 'equal keys in sibling objects are fine');
});

t.test('JSON documents parse too, and equal documents hash equally', async (t) => {
  const a = parseSpec(JSON.stringify({ ...minimal, services: [{ name: 's', image: 'x:1', environment: { A: '1', B: 2 } }] }));
  const b = parseSpec('apiVersion: coreflow/v1\ncluster: {name: demo}\nservices:\n  - {name: s, image: "x:1", environment: {B: "2", A: 1}}\n');
  t.equal(a.hash, b.hash);
  t.same(a.spec.services[0]!.environment, { A: '1', B: '2' });
});
