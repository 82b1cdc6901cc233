import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseAddr } from '../../ts/cli/addr.ts';
import { eventsUrl, SseParser } from '../../ts/cli/controller-watch-command.ts';
import { formatEvent } from '../../ts/cli/format-event.ts';
import { loadConfig } from '../../ts/config/config.ts';
import { startCoreflow } from '../helpers/controlplane-procs.ts';
import { testDoc } from '../helpers/swarm.ts';

t.test('--addr forms', async (t) => {
  t.same(parseAddr('127.0.0.1:4400'), { host: '127.0.0.1', port: 4400 });
  t.same(parseAddr(':0'), { host: '0.0.0.0', port: 0 });
  t.same(parseAddr('[::1]:4400'), { host: '::1', port: 4400 });
  t.throws(() => parseAddr('localhost'), /--addr: expected host:port/);
  t.throws(() => parseAddr('h:70000'), /--addr/);
  t.equal(eventsUrl('127.0.0.1:4400').toString(), 'http://127.0.0.1:4400/v1/events');
  t.equal(eventsUrl('https://cp.example.com').toString(), 'https://cp.example.com/v1/events');
});

t.test('SSE parsing across chunk boundaries, and events for a person', async (t) => {
  const seen: [string, Record<string, unknown>][] = [];
  const p = new SseParser((type, data) => seen.push([type, data]));
  p.push(': keepalive\n\nevent: report\ndata: {"reason":"run succ');
  p.push('eeded","time":"2026-01-01T00:00:00.123Z"}\n\nevent: state\ndata: {"reason":"x"}\n\n');
  t.same(seen, [
    ['report', { reason: 'run succeeded', time: '2026-01-01T00:00:00.123Z' }],
    ['state', { reason: 'x' }],
  ]);
  const text = formatEvent('report', {
    reason: 'run partial',
    time: '2026-01-01T00:00:00.123Z',
    clusterName: 'prod',
    run: { runId: 'r1', specHash: 'abc', durationMs: 12, summary: { creates: 1, updates: 0, deletes: 0, unchanged: 2, failed: 1, blocked: 0 } },
    services: [
      { name: 'web', health: 'ok', action: 'create', reason: 'not present' },
      { name: 'db', health: 'ok', action: 'skip', reason: 'unchanged' },
      { name: 'api', health: 'failed', action: 'update', reason: 'spec changed', error: 'no such image' },
    ],
  });
  t.equal(
    text,
    [
      '2026-01-01T00:00:00Z  report run partial  (cluster prod, run r1, spec abc, 12 ms)',
      '    1 created, 0 updated, 0 deleted, 2 unchanged, 1 failed, 0 blocked',
      '      web                          create: not present',
      '    ! api                          update: spec changed [no such image]',
    ].join('\n'),
  );
  const status = {
    generatedAt: '2026-01-01T00:00:01Z',
    overall: { sync: 'Synced', health: 'Degraded', operation: 'Idle', message: '1 of 2 object(s) need attention; first: service worker: task failed' },
    objects: [
      { kind: 'service', name: 'web', sync: 'Synced', health: 'Healthy', operation: 'Idle', message: '1/1 task(s) running' },
      { kind: 'service', name: 'worker', sync: 'Synced', health: 'Degraded', operation: 'Idle', message: '0/1 task(s) running; task failed: task: non-zero exit (1)' },
    ],
  };
  const run = { runId: 'r2', specHash: 'abc', durationMs: 5, summary: { creates: 0, updates: 0, deletes: 0, unchanged: 2, failed: 0, blocked: 0 } };
  t.equal(
    formatEvent('report', { reason: 'run succeeded', cause: 'run', time: '2026-01-01T00:00:00Z', clusterName: 'prod', run, services: [], status }),
    [
      '2026-01-01T00:00:00Z  report run succeeded  (cluster prod, run r2, spec abc, 5 ms)',
      '    status Synced, Degraded, Idle - 1 of 2 object(s) need attention; first: service worker: task failed',
      '    0 created, 0 updated, 0 deleted, 2 unchanged, 0 failed, 0 blocked',
    ].join('\n'),
    'a run report: the overall status, then the run',
  );
  t.equal(
    formatEvent('report', { reason: 'health changed: Degraded', cause: 'health', time: '2026-01-01T00:00:02Z', clusterName: 'prod', run, services: [], status }),
    [
      '2026-01-01T00:00:02Z  report health changed: Degraded  (cluster prod, spec abc)',
      '    status Synced, Degraded, Idle - 1 of 2 object(s) need attention; first: service worker: task failed',
      '    ! service/worker               Synced, Degraded: 0/1 task(s) running; task failed: task: non-zero exit (1)',
    ].join('\n'),
    'a health report: the status and what needs attention, not the run again',
  );
  t.match(formatEvent('push', { reason: 'agent rejected the config', time: 't', agentId: 'a1', errors: ['services[0].image: bad'] }), /agent rejected the config  \(agent a1\)\n    ! services\[0\]\.image: bad/);
});

t.test('config: control-plane mode needs JUMPCODE, named in the error', async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), 'coreflow-cfg-'));
  const saved = { url: process.env.CLOUDLY_URL, code: process.env.JUMPCODE };
  delete process.env.JUMPCODE;
  delete process.env.CLOUDLY_URL;
  t.teardown(() => {
    if (saved.url !== undefined) process.env.CLOUDLY_URL = saved.url;
    if (saved.code !== undefined) process.env.JUMPCODE = saved.code;
  });
  await t.rejects(loadConfig({ cloudlyUrl: 'ws://127.0.0.1:4400' }, cwd), /JUMPCODE \(--jumpcode\) or JUMPCODE_FILE \(--jumpcode-file\): required when CLOUDLY_URL is set/);
  await t.rejects(loadConfig({ cloudlyUrl: 'ftp://x', jumpcode: 'j' }, cwd), /CLOUDLY_URL \(--cloudly-url\): expected a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/);
  const ok = await loadConfig({ cloudlyUrl: 'wss://cp.example.com', jumpcode: 'j' }, cwd);
  t.match(ok, { cloudlyUrl: 'wss://cp.example.com', reconnectMaxMs: 60_000, pingIntervalMs: 15_000, authRetryMs: 60_000 });
});

t.test('the commands fail clearly on bad usage', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coreflow-cli-'));
  const spec = join(dir, 'spec.yaml');
  await writeFile(spec, stringify(testDoc('cf4cli')));
  const noToken = startCoreflow(['controlplane', '--spec', spec, '--addr', '127.0.0.1:0']);
  t.equal(await noToken.stop('SIGCONT'), 1);
  await writeFile(join(dir, 'bad.yaml'), stringify({ ...testDoc('cf4cli'), services: [{ name: 'a', bogus: 1 }] }));
  await writeFile(join(dir, 'token'), '0123456789abcdef0123\n');
  const badSpec = startCoreflow(['controlplane', '--spec', join(dir, 'bad.yaml'), '--addr', '127.0.0.1:0', '--token-file', join(dir, 'token')]);
  t.equal(await badSpec.stop('SIGCONT'), 1);
  t.ok(badSpec.logs.some((l) => /services\[0\]\.bogus: unknown key/.test(String(l.msg))), 'the spec errors are printed');
  const agent = startCoreflow(['agent', '--port', '0'], { CLOUDLY_URL: 'ws://127.0.0.1:1', JUMPCODE: '' });
  t.equal(await agent.stop('SIGCONT'), 1);
  t.ok(agent.logs.some((l) => /JUMPCODE \(--jumpcode\): must not be empty/.test(String(l.msg))), 'an empty JUMPCODE is named');
  t.ok(noToken.logs.some((l) => /missing --token-file FILE/.test(String(l.msg))));
});
