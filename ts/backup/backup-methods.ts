import type { methods } from '../protocol/methods.ts';
import type { Peer } from '../protocol/peer.ts';
import type { BackupManager } from './backup-manager.ts';

/**
 * The backup methods the agent serves to the control plane. Each answers as soon as the
 * operation has started (bad input is answered with its catalogue code, nothing started); the
 * progress and the end follow as events (backup.*, restore.*) and in the status reports.
 */
export function serveBackups(peer: Peer<typeof methods>, manager: BackupManager): void {
  peer.handle('executeServiceBackup', async (req) => {
    const started = await manager.backup(req.service, { ...(req.volume ? { volume: req.volume } : {}), reason: 'control-plane' });
    return { backupId: started.operation.id };
  });
  peer.handle('executeServiceRestore', async (req) => {
    const started = await manager.restore(req.backupId, { ...(req.volume ? { volume: req.volume } : {}), ...(req.toVolume ? { toVolume: req.toVolume } : {}) });
    return { restoreId: started.operation.id, backupId: req.backupId };
  });
}
