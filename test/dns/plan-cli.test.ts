import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { ownerComment } from '../../ts/dns/records.ts';
import { FakeCloudflare } from '../fakes/cloudflare.ts';
import { testDoc } from '../helpers/swarm.ts';

/**
 * `coreflow plan` as a child process against the real swarm and the fake Cloudflare API: the
 * DNS changes are printed with the Docker ones, nothing is written, and the token never shows.
 */

const BIN = new URL('../../bin/coreflow.js', import.meta.url).pathname;

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLOUDFLARE_') && !k.startsWith('COREFLOW_')));
    execFile(process.execPath, [BIN, ...args], { env: { ...clean, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('coreflow plan shows the DNS changes; nothing is written; the token stays secret', async (t) => {
  const fake = await FakeCloudflare.start();
  t.teardown(() => fake.close());
  fake.addZone('example.com');
  const d = testDoc('dnsplan');
  const cluster = d.cluster.name;
  fake.addRecord('example.com', { type: 'A', name: 'gone.example.com', content: '203.0.113.10', comment: ownerComment(cluster) });
  fake.addRecord('example.com', { type: 'A', name: 'api.example.com', content: '203.0.113.9', comment: ownerComment(cluster) });
  fake.addRecord('example.com', { type: 'A', name: 'www.example.com', content: '198.51.100.7', comment: 'made by hand' });
  fake.addRecord('example.com', { type: 'A', name: 'keep.example.com', content: '203.0.113.10', comment: ownerComment(cluster) });
  const doc = {
    ...d,
    services: [
      {
        name: `${cluster}-web`,
        image: 'coreflow-test/busybox:1',
        ports: { web: 8080, custom: { 'admin.example.com': 8081 } },
        domains: [{ name: 'www.example.com' }, { name: 'api.example.com' }, { name: 'keep.example.com' }],
      },
    ],
    dns: { provider: 'cloudflare', zones: ['example.com'], targets: { ipv4: ['203.0.113.10'] } },
  };
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-dns-plan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const specFile = join(dir, 'spec.yaml');
  await writeFile(specFile, stringify(doc));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${fake.token}\n`);

  const res = await runCli(['plan', '--spec', specFile, '--cloudflare-api-url', fake.url], { CLOUDFLARE_API_TOKEN_FILE: tokenFile, COREFLOW_LOG_LEVEL: 'debug' });
  t.equal(res.code, 2, `exit 2: changes planned\n${res.stdout}\n${res.stderr}`);
  const dnsBlock = res.stdout.split('\n\n')[0]!.split('\ndns\n')[1] ?? '';
  t.match(res.stdout, /^dns$/m, 'a dns block');
  t.match(dnsBlock, /^ {2}\+ A admin\.example\.com +not present: 203\.0\.113\.10, ttl auto$/m);
  t.match(dnsBlock, /^ {2}~ A api\.example\.com +target changed: content: 203\.0\.113\.9 -> 203\.0\.113\.10$/m);
  t.match(dnsBlock, /^ {2}- A gone\.example\.com +no longer desired: 203\.0\.113\.10, ttl auto$/m);
  t.match(dnsBlock, /^ {2}\+ A www\.example\.com +conflict: 203\.0\.113\.10, ttl auto {2}\[blocked: www\.example\.com has records coreflow did not make: A www\.example\.com -> 198\.51\.100\.7 \(not made by coreflow\)/m);
  t.notMatch(dnsBlock, /keep\.example\.com/, 'unchanged records are not listed');
  t.match(res.stdout, /^services$/m, 'the Docker steps are planned too');
  t.equal(fake.writes().length, 0, 'plan writes nothing');
  t.notOk(res.stdout.includes(fake.token) || res.stderr.includes(fake.token), 'the token is in no output');

  const bad = await runCli(['plan', '--spec', specFile, '--cloudflare-api-url', fake.url, '--cloudflare-token', 'wrong-secret-token', '--json'], {});
  t.equal(bad.code, 1, 'a failed dns step fails the plan');
  const result = JSON.parse(bad.stdout) as { steps: { kind: string; status: string; error?: string; actions: unknown[] }[] };
  const byKind = new Map(result.steps.map((s) => [s.kind, s]));
  t.equal(byKind.get('services')?.status, 'succeeded', 'the Docker steps are not blocked by DNS');
  t.ok((byKind.get('services')?.actions.length ?? 0) > 0);
  t.equal(byKind.get('dns')?.status, 'failed');
  t.equal(byKind.get('dns')?.error, 'Cloudflare API find zone example.com failed (401): Invalid API Token (code 1000)');
  t.notOk(bad.stdout.includes('wrong-secret-token') || bad.stderr.includes('wrong-secret-token'), 'the token is in no output');
});

t.test('a spec whose domain is outside the dns zones is rejected naming the field', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-dns-plan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const d = testDoc('dnsbad');
  const specFile = join(dir, 'spec.yaml');
  await writeFile(
    specFile,
    stringify({
      ...d,
      services: [{ name: `${d.cluster.name}-web`, image: 'coreflow-test/busybox:1', ports: { web: 8080 }, domains: [{ name: 'shop.example.org' }] }],
      dns: { provider: 'cloudflare', zones: ['example.com'], targets: { ipv4: ['203.0.113.10'] } },
    }),
  );
  const res = await runCli(['plan', '--spec', specFile], { CLOUDFLARE_API_TOKEN: 'unused' });
  t.equal(res.code, 1);
  t.match(res.stderr, /services\[0\]\.domains\[0\]\.name: "shop\.example\.org" is not in any zone of dns\.zones \(example\.com\); add its zone to dns\.zones or list it in dns\.exclude/);
  t.match(res.stderr, /COREFLOW_ERR_SPEC_INVALID/);
});
