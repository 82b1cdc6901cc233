import { PassThrough } from 'node:stream';
import t from 'tap';
import { dnsStep, type DnsStepOptions } from '../../ts/dns/step.ts';
import { ownerComment } from '../../ts/dns/records.ts';
import { createLogger, type Logger } from '../../ts/observe/logger.ts';
import { Reconciler } from '../../ts/reconcile/reconciler.ts';
import type { RunResult, Step } from '../../ts/reconcile/types.ts';
import { validateSpec } from '../../ts/spec/parse.ts';
import { FakeCloudflare } from '../fakes/cloudflare.ts';

/**
 * The dns step alone through the Reconciler against the fake Cloudflare API (no Docker needed
 * for this part): what a user checks is the records in the zone and the calls made.
 */

const CLUSTER = 'dns-test';

function doc(domains: string[], dns: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'coreflow/v1',
    cluster: { name: CLUSTER },
    services: [{ name: 'web', image: 'x', ports: { web: 80 }, domains: domains.map((name) => ({ name })) }],
    ...(dns ? { dns: { provider: 'cloudflare', zones: ['example.com'], targets: { ipv4: ['203.0.113.10'] }, ...dns } } : {}),
    ...extra,
  };
}

/** A logger whose lines are kept, to check what it says (and never says). */
function capturingLogger(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => lines.push(c.toString()));
  return { log: createLogger({ level: 'trace', destination: stream }), text: () => lines.join('') };
}

function stepOpts(fake: FakeCloudflare, over: Partial<DnsStepOptions> = {}): DnsStepOptions {
  return { token: async () => fake.token, baseURL: fake.url, dependsOn: [], api: { minIntervalMs: 0, retry: { baseBackoffMs: 20 } }, ...over };
}

async function run(step: Step, d: unknown, log?: Logger, opts: { dryRun?: boolean; confirmMassDeletion?: boolean } = {}): Promise<RunResult> {
  const loaded = validateSpec(d);
  const reconciler = new Reconciler({ steps: [step], desired: () => loaded, log: log ?? createLogger({ level: 'silent' }), ...opts });
  return (await reconciler.trigger('test'))!;
}

async function setup(t: { teardown: (fn: () => unknown) => void }) {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  fake.addZone('example.com');
  return fake;
}

const table = (fake: FakeCloudflare) =>
  fake
    .records('example.com')
    .map((r) => `${r.type} ${r.name} ${r.content}`)
    .sort();

t.test('records are created for the routed domains, updated when the target changes, deleted when a domain goes', async (t) => {
  const fake = await setup(t);
  const step = dnsStep(stepOpts(fake));
  const first = await run(step, doc(['www.example.com', 'api.example.com', 'shop.example.com'], {}));
  t.equal(first.status, 'succeeded');
  t.equal(first.summary.creates, 3);
  t.same(table(fake), ['A api.example.com 203.0.113.10', 'A shop.example.com 203.0.113.10', 'A www.example.com 203.0.113.10']);
  t.ok(fake.records().every((r) => r.comment === ownerComment(CLUSTER)), 'every record carries the ownership comment');
  const ids = fake.records().map((r) => r.id).sort();

  const writesBefore = fake.writes().length;
  const changed = await run(step, doc(['www.example.com', 'api.example.com', 'shop.example.com'], { targets: { ipv4: ['203.0.113.20'] } }));
  t.equal(changed.summary.updates, 3);
  t.same(table(fake), ['A api.example.com 203.0.113.20', 'A shop.example.com 203.0.113.20', 'A www.example.com 203.0.113.20']);
  t.same(fake.records().map((r) => r.id).sort(), ids, 'updated in place: the same record ids');
  t.same(fake.writes().slice(writesBefore).map((w) => w.method), ['PUT', 'PUT', 'PUT']);
  const dnsStepResult = changed.steps.find((s) => s.kind === 'dns')!;
  t.same(dnsStepResult.actions[0]!.diff, ['content: 203.0.113.10 -> 203.0.113.20']);

  const removed = await run(step, doc(['www.example.com', 'api.example.com'], { targets: { ipv4: ['203.0.113.20'] } }));
  t.equal(removed.summary.deletes, 1);
  t.same(table(fake), ['A api.example.com 203.0.113.20', 'A www.example.com 203.0.113.20']);
});

t.test('switching the targets to a CNAME converges in one run', async (t) => {
  const fake = await setup(t);
  const step = dnsStep(stepOpts(fake));
  await run(step, doc(['www.example.com', 'api.example.com', 'shop.example.com'], {}));
  const result = await run(step, doc(['www.example.com', 'api.example.com', 'shop.example.com'], { targets: { cname: 'LB.example.net' } }));
  t.equal(result.summary.blocked, 0, 'replacing records of names still published is no mass deletion');
  t.equal(result.status, 'succeeded');
  t.same(table(fake), ['CNAME api.example.com lb.example.net', 'CNAME shop.example.com lb.example.net', 'CNAME www.example.com lb.example.net']);
});

t.test('an unreachable API fails the dns step with a clear message', async (t) => {
  const fake = await setup(t);
  const url = fake.url;
  await fake.close();
  const result = await run(dnsStep(stepOpts(fake, { baseURL: url })), doc(['www.example.com'], {}));
  t.equal(result.steps[0]!.status, 'failed');
  t.match(result.steps[0]!.error, /^Cloudflare API find zone example\.com failed \(no response\): Connection error\./);
});

t.test('a no-op run makes zero write calls', async (t) => {
  const fake = await setup(t);
  const step = dnsStep(stepOpts(fake));
  const d = doc(['www.example.com', 'api.example.com'], { targets: { ipv4: ['203.0.113.10'], ipv6: ['2001:db8::10'] }, dns_records: [{ type: 'TXT', name: 'example.com', content: 'v=spf1 -all' }] });
  await run(step, d);
  const writes = fake.writes().length;
  t.equal(writes, 5);
  const requestsBefore = fake.requests.length;
  const again = await run(step, d);
  t.equal(again.status, 'succeeded');
  t.equal(fake.writes().length, writes, 'no write calls');
  t.same(again.summary, { creates: 0, updates: 0, deletes: 0, unchanged: 5, failed: 0, blocked: 0 });
  t.same(
    fake.requests.slice(requestsBefore).map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{32}/, ':zone')}`),
    ['GET /client/v4/zones/:zone/dns_records'],
    'one list call: the zone id is remembered from the first run',
  );
});

t.test('a foreign record with the same name is left alone and reported', async (t) => {
  const fake = await setup(t);
  const foreign = fake.addRecord('example.com', { type: 'A', name: 'www.example.com', content: '198.51.100.7', comment: 'made by hand' });
  const other = fake.addRecord('example.com', { type: 'CNAME', name: 'old.example.com', content: 'legacy.example.net', comment: 'managed-by=coreflow cluster=someone-else' });
  const result = await run(dnsStep(stepOpts(fake)), doc(['www.example.com', 'api.example.com', 'old.example.com'], {}));
  const step = result.steps.find((s) => s.kind === 'dns')!;
  t.equal(step.status, 'succeeded', 'a conflict does not fail the step');
  t.equal(result.status, 'partial');
  const www = step.actions.find((a) => a.name === 'A www.example.com')!;
  t.equal(www.status, 'blocked');
  t.match(www.error, /www\.example\.com has records coreflow did not make: A www\.example\.com -> 198\.51\.100\.7/);
  t.match(step.actions.find((a) => a.name === 'A old.example.com')!.error, /owned by coreflow cluster someone-else/);
  t.same(fake.records().find((r) => r.id === foreign.id), foreign, 'the foreign record is unchanged');
  t.same(fake.records().find((r) => r.id === other.id), other, "another cluster's record is unchanged");
  t.same(table(fake), ['A api.example.com 203.0.113.10', 'A www.example.com 198.51.100.7', 'CNAME old.example.com legacy.example.net']);
  t.equal(fake.writes().length, 1, 'only api.example.com was written');
});

t.test('a 429 is retried after its delay', async (t) => {
  const fake = await setup(t);
  fake.inject({ status: 429, retryAfter: 1, method: 'POST' });
  const { log, text } = capturingLogger();
  const result = await run(dnsStep(stepOpts(fake)), doc(['www.example.com'], {}), log);
  t.equal(result.status, 'succeeded');
  const posts = fake.requests.filter((r) => r.method === 'POST');
  t.same(posts.map((p) => p.status), [429, 200]);
  t.ok(posts[1]!.at - posts[0]!.at >= 950, `retried after ${posts[1]!.at - posts[0]!.at} ms (Retry-After: 1)`);
  t.match(text(), /rate limited \(429\); retrying/);
  t.same(table(fake), ['A www.example.com 203.0.113.10']);
});

t.test('a 5xx is retried; a record that keeps failing fails alone with the API message', async (t) => {
  const fake = await setup(t);
  fake.inject({ status: 502, method: 'GET' });
  fake.inject({ status: 500, method: 'POST', times: 10, path: /dns_records$/, errors: [{ code: 10000, message: 'Internal server error' }] });
  const step = dnsStep(stepOpts(fake, { hosts: () => [{ name: 'www.example.com', source: 'test' }] }));
  const result = await run(step, doc([], {}));
  const dns = result.steps.find((s) => s.kind === 'dns')!;
  t.equal(dns.status, 'failed');
  t.equal(dns.actions[0]!.status, 'failed');
  t.equal(dns.actions[0]!.error, 'Cloudflare API create A www.example.com failed (500): Internal server error (code 10000)');
  t.equal(fake.requests.filter((r) => r.method === 'POST').length, 4, 'four attempts in all');
  // The fake now answers again: the next run converges.
  fake.clearFailures();
  const next = await run(step, doc([], {}));
  t.equal(next.status, 'succeeded');
});

t.test('auth errors fail the dns step with the API message; the token never shows', async (t) => {
  const fake = await setup(t);
  const secret = 'sekrit-token-0123456789abcdef';
  const { log, text } = capturingLogger();
  const result = await run(dnsStep(stepOpts(fake, { token: async () => secret })), doc(['www.example.com'], {}), log);
  const dns = result.steps.find((s) => s.kind === 'dns')!;
  t.equal(dns.status, 'failed');
  t.equal(dns.error, 'Cloudflare API find zone example.com failed (401): Invalid API Token (code 1000)');
  t.equal(fake.requests[0]!.authorization, `Bearer ${secret}`, 'the token was sent, in the header only');
  t.notOk(JSON.stringify(result).includes(secret), 'not in the result');
  t.notOk(text().includes(secret), 'not in the logs');
  t.notOk(text().includes('sekrit'), 'not even in part');
});

t.test('without a dns section the step plans nothing and makes no calls; without a token it fails alone', async (t) => {
  const fake = await setup(t);
  let asked = 0;
  const step = dnsStep(stepOpts(fake, { token: async () => (asked++, undefined) }));
  const none = await run(step, doc(['www.example.com'], undefined));
  t.equal(none.status, 'succeeded');
  t.same(none.steps[0]!.actions, []);
  t.equal(asked, 0, 'the token is not even read');
  t.equal(fake.requests.length, 0);
  const noToken = await run(step, doc(['www.example.com'], {}));
  t.equal(noToken.steps[0]!.status, 'failed');
  t.match(noToken.steps[0]!.error, /no Cloudflare API token is set: give --cloudflare-token, CLOUDFLARE_API_TOKEN or CLOUDFLARE_API_TOKEN_FILE/);
  t.equal(fake.requests.length, 0);
});

t.test('listing is bounded: a zone with more pages than allowed fails, nothing is written', async (t) => {
  const fake = await setup(t);
  for (let i = 0; i < 12; i++) fake.addRecord('example.com', { type: 'TXT', name: `t${i}.example.com`, content: `v${i}` });
  const step = dnsStep(stepOpts(fake, { api: { minIntervalMs: 0, perPage: 5, maxPages: 2 } }));
  const result = await run(step, doc(['www.example.com'], {}));
  t.equal(result.steps[0]!.status, 'failed');
  t.match(result.steps[0]!.error, /zone example\.com has more than 10 DNS records \(2 pages of 5\); listing stopped/);
  t.equal(fake.requests.filter((r) => r.path.endsWith('/dns_records')).length, 2);
  t.equal(fake.writes().length, 0);
  const enough = dnsStep(stepOpts(fake, { api: { minIntervalMs: 0, perPage: 5, maxPages: 3 } }));
  t.equal((await run(enough, doc(['www.example.com'], {}))).summary.creates, 1);
});

t.test('requests are spaced by the rate limit', async (t) => {
  const fake = await setup(t);
  const step = dnsStep(stepOpts(fake, { api: { minIntervalMs: 150 } }));
  await run(step, doc(['a.example.com', 'b.example.com', 'c.example.com'], {}));
  const at = fake.requests.map((r) => r.at);
  t.equal(at.length, 5);
  // Starts are 150 ms apart; arrivals jitter a little, so check the span of the five requests.
  t.ok(at[4]! - at[0]! >= 550, `5 requests took ${at[4]! - at[0]!} ms (at least 4 x 150 ms)`);
});

t.test('dry run reads but never writes, and shows the changes', async (t) => {
  const fake = await setup(t);
  const result = await run(dnsStep(stepOpts(fake)), doc(['www.example.com'], {}), undefined, { dryRun: true });
  t.same(result.steps[0]!.actions.map((a) => `${a.type} ${a.name} ${a.status}`), ['create A www.example.com planned']);
  t.equal(fake.writes().length, 0);
});
