import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import type { BackupManager } from '../../ts/backup/backup-manager.ts';
import { serveBackups } from '../../ts/backup/backup-methods.ts';
import { ControlPlane } from '../../ts/controlplane/control-plane.ts';
import { CoreflowError, isCoreflowError } from '../../ts/errors.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { methods } from '../../ts/protocol/methods.ts';
import { Peer, remoteCode } from '../../ts/protocol/peer.ts';
import { testDoc } from '../helpers/swarm.ts';

/**
 * executeServiceBackup / executeServiceRestore over a real WebSocket: the agent's peer serves them
 * (serveBackups) and answers with the id at once; bad input comes back with its catalogue code.
 * The manager here records calls; backup-swarm.test.ts runs the real one.
 */
t.test('the control plane starts a backup and a restore; bad input answered with its code', async (t) => {
  const calls: unknown[] = [];
  const manager = {
    async backup(service: string, opts: unknown) {
      calls.push(['backup', service, opts]);
      if (service !== 'db') throw new CoreflowError('COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE', { service, cluster: 'c1' });
      return { operation: { id: 'bk-20261127t050000z-aaaaaa' }, done: new Promise(() => undefined) };
    },
    async restore(backupId: string, opts: unknown) {
      calls.push(['restore', backupId, opts]);
      if (backupId === 'bk-running') throw new CoreflowError('COREFLOW_ERR_BACKUP_BUSY', { kind: 'restore', id: 'rs-1', service: 'db' });
      return { operation: { id: 'rs-20261127t050000z-bbbbbb' }, done: new Promise(() => undefined) };
    },
  } as unknown as BackupManager;
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  // The agent dials; here the test's server plays the control plane and the client the agent.
  const cpPeer = new Promise<Peer<typeof methods>>((resolve) => wss.on('connection', (ws) => resolve(new Peer(ws, { methods, log: silentLogger() }))));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const agent = new Peer(ws, { methods, log: silentLogger() });
  serveBackups(agent, manager);
  t.teardown(() => {
    ws.terminate();
    wss.close();
  });
  const cp = await cpPeer;

  t.same(await cp.request('executeServiceBackup', { service: 'db', volume: '/data' }), { backupId: 'bk-20261127t050000z-aaaaaa' }, 'answers at once with the id');
  t.same(await cp.request('executeServiceRestore', { backupId: 'bk-1', toVolume: 'db-copy' }), { restoreId: 'rs-20261127t050000z-bbbbbb', backupId: 'bk-1' });
  t.same(calls, [['backup', 'db', { volume: '/data', reason: 'control-plane' }], ['restore', 'bk-1', { toVolume: 'db-copy' }]]);
  t.equal(remoteCode(await cp.request('executeServiceBackup', { service: 'nope' }).catch((e: unknown) => e)), 'COREFLOW_ERR_BACKUP_UNKNOWN_SERVICE');
  t.equal(remoteCode(await cp.request('executeServiceRestore', { backupId: 'bk-running' }).catch((e: unknown) => e)), 'COREFLOW_ERR_BACKUP_BUSY');
  const empty = await cp.request('executeServiceBackup', { service: '' } as never).catch((e: unknown) => e);
  t.ok(isCoreflowError(empty, 'COREFLOW_ERR_PROTOCOL_FRAME'), 'an empty service name is refused by the schema');
  t.equal(calls.length, 4, 'and never reaches the manager');
});

t.test('the reference control plane triggers them: POST /v1/backups and /v1/backups/restore reach the agent', async (t) => {
  const TOKEN = 'backup-cp-token-0123456789abcdef';
  const dir = await mkdtemp(join(tmpdir(), 'cf-backup-cp-'));
  const specPath = join(dir, 'spec.yaml');
  await writeFile(specPath, stringify(testDoc('bkcp')));
  const cp = new ControlPlane({ specPath, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger(), pingIntervalMs: 0 });
  await cp.start();
  const base = `http://127.0.0.1:${cp.port}`;
  const post = (path: string, body: unknown, token = TOKEN) => fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  t.teardown(async () => {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });
  t.equal((await post('/v1/backups', { service: 'db' })).status, 503, 'no agent connected');

  const calls: string[] = [];
  const manager = {
    async backup(service: string) {
      calls.push(`backup ${service}`);
      if (service !== 'db') throw new CoreflowError('COREFLOW_ERR_BACKUP_NO_VOLUMES', { service });
      return { operation: { id: 'bk-20261127t050000z-cccccc' } };
    },
    async restore(backupId: string) {
      calls.push(`restore ${backupId}`);
      return { operation: { id: 'rs-20261127t050000z-dddddd' } };
    },
  } as unknown as BackupManager;
  const ws = new WebSocket(`ws://127.0.0.1:${cp.port}/v1/agent`);
  await once(ws, 'open');
  const agent = new Peer(ws, { methods, log: silentLogger() });
  serveBackups(agent, manager);
  t.teardown(() => ws.terminate());
  await agent.request('getIdentityByToken', { token: TOKEN, protocolVersion: 1 });

  const started = await post('/v1/backups', { service: 'db' });
  t.equal(started.status, 202);
  t.same(await started.json(), { backupId: 'bk-20261127t050000z-cccccc' });
  const restoring = await post('/v1/backups/restore', { backupId: 'bk-20261127t050000z-cccccc' });
  t.same([restoring.status, await restoring.json()], [202, { restoreId: 'rs-20261127t050000z-dddddd', backupId: 'bk-20261127t050000z-cccccc' }]);
  const refused = await post('/v1/backups', { service: 'plain' });
  t.equal(refused.status, 400);
  t.match(await refused.json(), { code: 'COREFLOW_ERR_BACKUP_NO_VOLUMES' }, 'the agent\'s refusal with its code');
  t.equal((await post('/v1/backups', { service: 'db' }, 'wrong-token-0123456789abcdef')).status, 401);
  t.equal((await post('/v1/backups', { nope: 1 })).status, 400);
  t.same(calls, ['backup db', 'restore bk-20261127t050000z-cccccc', 'backup plain']);
});
