import { z } from 'zod';

/** Why a backup was taken. */
export const BACKUP_REASONS = ['manual', 'control-plane', 'schedule', 'before-prune', 'before-restore'] as const;

/** One volume's archive in a backup: a tar of the volume's content, stored by its sha256. */
export const volumeArchiveSchema = z.strictObject({
  volume: z.string().min(1),
  /** Where the service mounts it (absent for a volume no service mounts any more). */
  mountPath: z.string().optional(),
  /** The Swarm node ID that held the volume. */
  node: z.string(),
  size: z.number().int().nonnegative(),
  /** `sha256:<64 hex>` of the archive. */
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});

/** A snapshot of a database or object storage the service is bound to, kept by Corestore. */
export const bindingSnapshotSchema = z.strictObject({
  type: z.enum(['database', 'objectstorage']),
  name: z.string().min(1),
  snapshotId: z.string().min(1),
  sizeBytes: z.number().int().nonnegative().optional(),
});

/**
 * A backup of one service: one archive per backup-enabled volume. Stored as
 * `manifests/<id>.json` beside the archives (`objects/<hex>.tar`) in the backup directory.
 */
export const backupManifestSchema = z.strictObject({
  id: z.string().regex(/^bk-[0-9a-z-]+$/),
  cluster: z.string(),
  service: z.string(),
  /** The Docker service ID at backup time (absent when the service no longer existed). */
  serviceId: z.string().optional(),
  createdAt: z.string(),
  reason: z.enum(BACKUP_REASONS),
  consistency: z.enum(['live', 'stop']),
  coreflowVersion: z.string(),
  volumes: z.array(volumeArchiveSchema),
  /** Corestore snapshots of the service's bindings (docs/corestore.md). */
  bindings: z.array(bindingSnapshotSchema).default([]),
  /** Set once the archives were copied to the control plane. */
  replicatedAt: z.string().optional(),
});

export type VolumeArchive = z.infer<typeof volumeArchiveSchema>;
export type BackupManifest = z.output<typeof backupManifestSchema>;
export type BindingSnapshot = z.infer<typeof bindingSnapshotSchema>;
export type BackupReason = (typeof BACKUP_REASONS)[number];

/** A new backup id: time-ordered and readable (`bk-20261127t044501z-3f9a1c`). */
export function newBackupId(now: Date, random: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '').toLowerCase();
  return `bk-${stamp}-${random}`;
}
