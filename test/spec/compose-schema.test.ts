import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { parseDurationNs } from '../../ts/duration.ts';
import { specErrors, validateSpec } from '../../ts/spec/parse.ts';
import { EVERY_COMPOSE_FIELD } from '../helpers/compose-fields.ts';

const doc = (service: Record<string, unknown>) => ({ apiVersion: 'coreflow/v1', cluster: { name: 'demo' }, services: [{ name: 'a', image: 'x:1', ...service }] });

function errorsOf(service: Record<string, unknown>): string[] {
  try {
    validateSpec(doc(service));
  } catch (err) {
    if (err instanceof CoreflowError && err.code === 'COREFLOW_ERR_SPEC_INVALID') return specErrors(err);
    throw err;
  }
  throw new Error('expected the spec to be rejected');
}

t.test('durations are read as compose writes them', async (t) => {
  t.equal(parseDurationNs('10s'), 10e9);
  t.equal(parseDurationNs('1m30s'), 90e9);
  t.equal(parseDurationNs('1.5h'), 5400e9);
  t.equal(parseDurationNs('500ms'), 5e8);
  t.equal(parseDurationNs('2us'), 2000);
  t.equal(parseDurationNs('0'), 0);
  t.equal(parseDurationNs('-5s'), -5e9);
  for (const bad of ['', '10', 's', '10 s', '10x', '1m 30s', 'ten seconds']) t.equal(parseDurationNs(bad), undefined, bad);
});

t.test('a service with every compose field is valid', async (t) => {
  const { spec } = validateSpec(doc({ ...EVERY_COMPOSE_FIELD, dns: ['10.0.0.2'], sysctls: { 'net.core.somaxconn': 1024 }, extraHosts: { 'db.local': '10.0.0.5' } }));
  const a = spec.services[0]!;
  t.equal(a.stopGracePeriod, '30s', 'durations stay as written in the validated spec');
  t.same(a.logging?.options, { 'max-size': '10m', 'max-file': '3' });
  t.same(validateSpec(JSON.parse(JSON.stringify(spec))).spec, spec, 'the validated spec validates again to itself');
});

t.test('bad compose fields: every error with its path, nothing accepted', async (t) => {
  const errors = errorsOf({
    placement: { constraints: ['node.labels.storage=ssd', 'node.role==boss', 'disk==ssd'], preferences: [{ spread: 'zone' }], extra: 1 },
    healthcheck: { test: ['curl', 'http://localhost'], interval: '10', retries: -1 },
    restartPolicy: { condition: 'always', maxAttempts: 1.5 },
    rollback: { failureAction: 'rollback' },
    stopGracePeriod: '-5s',
    stopSignal: 'TERM',
    endpointMode: 'round-robin',
    workingDir: 'app',
    extraHosts: ['db.local 10.0.0.5', 'db.local:not-an-ip'],
    dns: ['8.8.8.888'],
    capAdd: ['NET_ADMIN', 'FLY'],
    ulimits: { nofiles: 10, nproc: { soft: 10, hard: 5 } },
    sysctls: ['net.core.somaxconn'],
    tmpfs: ['run'],
    logging: { options: {} },
    containerLabels: { 'coreflow.x': 'y' },
  });
  const expect = [
    /^services\[0\]\.placement\.constraints\[0\]: expected a constraint "<attribute>==<value>".*not "node\.labels\.storage=ssd"/,
    /^services\[0\]\.placement\.constraints\[1\]: node\.role is "manager" or "worker", not "boss"/,
    /^services\[0\]\.placement\.constraints\[2\]: expected a constraint/,
    /^services\[0\]\.placement\.preferences\[0\]\.spread: expected node\.labels\.<key>/,
    /^services\[0\]\.placement\.extra: unknown key/,
    /^services\[0\]\.healthcheck\.test: /,
    /^services\[0\]\.healthcheck\.interval: expected a duration such as 10s/,
    /^services\[0\]\.healthcheck\.retries: expected a number >= 0/,
    /^services\[0\]\.restartPolicy\.condition: expected "none", "on-failure" or "any"/,
    /^services\[0\]\.restartPolicy\.maxAttempts: expected a whole number/,
    /^services\[0\]\.rollback\.failureAction: expected "pause" or "continue"/,
    /^services\[0\]\.stopGracePeriod: expected a duration >= 0, not "-5s"/,
    /^services\[0\]\.stopSignal: expected a signal/,
    /^services\[0\]\.endpointMode: expected "vip" or "dnsrr"/,
    /^services\[0\]\.workingDir: expected an absolute container path/,
    /^services\[0\]\.extraHosts\[0\]: expected "hostname:ip"/,
    /^services\[0\]\.extraHosts\[1\]: expected "hostname:ip"/,
    /^services\[0\]\.dns/,
    /^services\[0\]\.capAdd\[1\]: unknown capability "FLY"/,
    /^services\[0\]\.ulimits\.nofiles: /,
    /^services\[0\]\.ulimits\.nproc/,
    /^services\[0\]\.sysctls/,
    /^services\[0\]\.tmpfs/,
    /^services\[0\]\.logging\.driver: required/,
    /^services\[0\]\.containerLabels\.coreflow\.x: /,
  ];
  for (const re of expect) t.ok(errors.some((e) => re.test(e)), `${re} in:\n${errors.join('\n')}`);
  t.notOk(errors.some((e) => e.includes('capAdd[0]')), 'a known capability is not an error');
});

t.test('rules across fields', async (t) => {
  t.match(errorsOf({ mode: 'global', placement: { maxReplicasPerNode: 1 } }), [/^services\[0\]\.placement\.maxReplicasPerNode: only for replicated services/]);
  t.match(errorsOf({ endpointMode: 'dnsrr', publish: [{ target: 80, published: 8080 }] }), [/^services\[0\]\.endpointMode: dnsrr cannot publish in ingress mode \(publish\[0\]\)/]);
  t.match(errorsOf({ volumes: [{ mountPath: '/data' }], tmpfs: ['/tmp', '/data'] }), [/^services\[0\]\.tmpfs\[1\]: \/data is already a mount point/]);
  t.match(errorsOf({ healthcheck: { test: 'true', disable: true } }), [/^services\[0\]\.healthcheck\.disable: disable excludes test/]);
  t.doesNotThrow(() => validateSpec(doc({ endpointMode: 'dnsrr', publish: [{ target: 80, published: 8080, mode: 'host' }] })));
});
