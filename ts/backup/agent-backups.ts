import { join } from 'node:path';
import type Docker from 'dockerode';
import type { CoreflowConfig } from '../config/config.ts';
import type { EventBus } from '../observe/events.ts';
import type { Logger } from '../observe/logger.ts';
import type { InternalServer } from '../server/internal-server.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { CorestoreClient } from '../storage/corestore-client.ts';
import { corestoreBindingSnapshots } from '../storage/corestore-snapshots.ts';
import { corestoreTokenSource } from '../storage/corestore-token.ts';
import { agentEndpoint } from './agent-endpoint.ts';
import { ArchiveStore } from './archive-store.ts';
import { BackupManager } from './backup-manager.ts';
import { registerBackupRoutes } from './backup-routes.ts';
import { controlPlaneHttpBase, Replicator } from './replicator.ts';
import type { ServiceHolds } from './service-holds.ts';
import { Transfers, TRANSFER_PATH } from './transfers.ts';
import { coreflowVersion } from './version.ts';
import type { AgentEndpoint } from './volume-job.ts';

export interface AgentBackupsOptions {
  config: CoreflowConfig;
  docker: Docker;
  server: InternalServer;
  holds: ServiceHolds;
  bus: EventBus;
  log: Logger;
  spec: () => ClusterSpec | undefined;
  /** The image of the job tasks. */
  image: () => Promise<string>;
  /** Why this agent may not run backups now (a standby), or undefined. */
  notReady: () => string | undefined;
}

/**
 * The agent's backups: the archive store (COREFLOW_BACKUP_DIR, default <state dir>/backups), the
 * per-transfer grants job tasks use (TRANSFER_PATH) on the internal server, replication to the
 * control plane when asked, Corestore snapshots of bindings when a Corestore token is set, and the
 * /v1/backups API behind COREFLOW_API_TOKEN.
 */
export function agentBackups(o: AgentBackupsOptions): BackupManager {
  const { config, log, server } = o;
  const store = new ArchiveStore(config.backupDir ?? join(config.stateDir, 'backups'));
  const transfers = new Transfers(store);
  server.onUpgrade(TRANSFER_PATH, transfers.handleUpgrade);
  transfers.register(server.router);
  let endpoint: AgentEndpoint | undefined;
  const manager = new BackupManager({
    docker: o.docker,
    store,
    transfers,
    holds: o.holds,
    bus: o.bus,
    log: log.child({ component: 'backup' }),
    image: o.image,
    notReady: o.notReady,
    jobTimeoutMs: config.backupTimeoutMs,
    version: coreflowVersion(),
    cluster: () => o.spec()?.cluster.name,
    consistency: (service) => o.spec()?.services.find((s) => s.name === service)?.backup?.consistency ?? 'live',
    endpoint: async () => (endpoint ??= await agentEndpoint({ addr: config.backupAgentAddr, network: config.backupNetwork, port: server.port, docker: o.docker })),
    ...(config.backupReplicate && config.cloudlyUrl && config.jumpcode
      ? { replicator: new Replicator({ baseUrl: controlPlaneHttpBase(config.cloudlyUrl), token: config.jumpcode, store, log: log.child({ component: 'backup-replication' }) }) }
      : {}),
    // With a Corestore token, a service's bindings are snapshotted with its volumes.
    ...(config.corestoreToken || config.corestoreTokenFile
      ? { bindings: corestoreBindingSnapshots(new CorestoreClient({ baseUrl: config.corestoreUrl, token: corestoreTokenSource(config) }), log.child({ component: 'backup' })) }
      : {}),
  });
  registerBackupRoutes(server.router, manager, { apiToken: config.apiToken });
  return manager;
}
