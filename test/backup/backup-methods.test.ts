import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import type { BackupManager } from '../../ts/backup/backup-manager.ts';
import { serveBackups } from '../../ts/backup/backup-methods.ts';
import { CoreflowError, isCoreflowError } from '../../ts/errors.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { methods } from '../../ts/protocol/methods.ts';
import { Peer, remoteCode } from '../../ts/protocol/peer.ts';

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
