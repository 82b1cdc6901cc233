import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { CoreflowError, errorCode, errorText, isCoreflowError, type ErrorCode } from '../errors.ts';
import { LABEL_MANAGED_BY, MANAGED_BY, LABEL_CLUSTER } from '../docker/labels.ts';
import { LABEL_VOLUME_BACKUP, LABEL_VOLUME_SERVICE } from '../docker/volumes.ts';
import type { EventBus } from '../observe/events.ts';
import type { Logger } from '../observe/logger.ts';
import type { ArchiveStore, StoredArchive } from './archive-store.ts';
import { newBackupId, type BackupManifest, type BackupReason, type BindingSnapshot, type VolumeArchive } from './manifest.ts';
import type { ServiceHolds } from './service-holds.ts';
import { localNode, nodeOfService, ownedService, scaleService, type LiveMount } from './swarm-ops.ts';
import { snapshotIdFor, type BindingRef, type BindingSnapshots } from '../storage/corestore-snapshots.ts';
import type { Replicator } from './replicator.ts';
import type { Transfers } from './transfers.ts';
import { EXIT_NOT_EMPTY, RESTORE_SCRIPT, SNAPSHOT_SCRIPT } from './job-scripts.ts';
import { LABEL_BACKUP_JOB, removeJobs, runVolumeJob, type AgentEndpoint } from './volume-job.ts';

export interface BackupOperation {
  id: string;
  kind: 'backup' | 'restore';
  service: string;
  state: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt?: string;
  /** Bytes moved so far, and the expected total when known (an estimate for a backup). */
  bytesDone: number;
  bytesTotal?: number;
  /** The backup taken, or restored from. */
  backupId: string;
  error?: string;
  code?: ErrorCode;
}

export interface BackupManagerOptions {
  docker: Docker;
  store: ArchiveStore;
  transfers: Transfers;
  holds: ServiceHolds;
  bus: EventBus;
  log: Logger;
  /** The image of the job tasks (busybox, or sh, tar, du and node; see job-scripts.ts). */
  image: () => Promise<string>;
  /** Why this agent may not run operations now (a standby of the lease), or undefined when it may. */
  notReady?: () => string | undefined;
  /** How job tasks reach the agent's internal server. */
  endpoint: () => Promise<AgentEndpoint>;
  /** Deadline of one job (snapshot or restore of one volume). */
  jobTimeoutMs: number;
  cluster: () => string | undefined;
  /** The desired service's backup settings (consistency), when the spec has the service. */
  consistency: (service: string) => 'live' | 'stop';
  version: string;
  now?: () => Date;
  /** Snapshots of the service's platform bindings (Corestore); without it only volumes are backed up. */
  bindings?: BindingSnapshots;
  /** Copies each backup to the control plane and fetches missing archives back (optional). */
  replicator?: Replicator;
}

export interface Started {
  operation: BackupOperation;
  /** Settles when the operation ends; rejects with its error. */
  done: Promise<BackupManifest>;
}

/** How often a running operation emits a progress event at most. */
const PROGRESS_EVERY_MS = 1000;
/** Finished operations kept for GET /v1/backups/operations. */
const KEEP_FINISHED = 100;

interface BackupVolume {
  volume: string;
  mountPath?: string;
  options?: LiveMount['VolumeOptions'];
}

/**
 * Backups and restores of the data of services: each backup-enabled volume is copied by a
 * one-off Swarm job on the node that holds it and streamed to the archive store (see
 * volume-job.ts and transfers.ts). One operation at a time per service. Operations answer at once
 * with their id; their progress and end are events (backup.* and restore.*) and the operation's
 * record (`operation(id)`).
 */
export class BackupManager {
  private readonly ops = new Map<string, BackupOperation>();
  private readonly busy = new Map<string, BackupOperation>();
  private readonly now: () => Date;
  /** The replication in progress (one at a time; each pass copies every backup not yet copied). */
  private replicating: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(op: BackupOperation) => void>();

  constructor(private readonly opts: BackupManagerOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  operation(id: string): BackupOperation | undefined {
    return this.ops.get(id);
  }

  /** The operation as soon as it has ended, or as it is after `waitMs` (a long poll). */
  async operationWhenDone(id: string, waitMs: number): Promise<BackupOperation | undefined> {
    const op = this.ops.get(id);
    if (op?.state !== 'running' || waitMs <= 0) return op;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      const off = this.onOperation((o) => {
        if (o.id === id && o.state !== 'running') done();
      });
    });
    return this.ops.get(id) ?? op;
  }

  /** Hears every start, progress step and end of an operation. Returns the unsubscribe. */
  onOperation(listener: (op: BackupOperation) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(op: BackupOperation): void {
    for (const l of this.listeners) {
      try {
        l({ ...op });
      } catch (err) {
        this.opts.log.warn({ code: errorCode(err), err: errorText(err) }, 'backup listener failed');
      }
    }
  }

  /**
   * Removes the cluster's job services and containers while no operation runs here: what an agent
   * that stopped in the middle of a job left behind (a job's container keeps its volume in use).
   * Returns how many were removed.
   */
  async removeLeftoverJobs(signal?: AbortSignal): Promise<number> {
    if (this.busy.size > 0) return 0;
    return removeJobs(this.opts.docker, this.cluster(), signal);
  }

  /** The operations reports carry: those running and those that ended within the last hour, oldest first. */
  reported(): BackupOperation[] {
    const since = this.now().getTime() - 3_600_000;
    return [...this.ops.values()].filter((o) => o.state === 'running' || Date.parse(o.finishedAt ?? '') >= since).map((o) => ({ ...o }));
  }

  list(service?: string): Promise<BackupManifest[]> {
    return this.opts.store.list(service);
  }

  async delete(id: string): Promise<void> {
    await this.opts.store.delete(id);
    this.opts.bus.emit({ type: 'backup.deleted', resourceType: 'backup', kind: 'backup', name: id, summary: `backup ${id} deleted` });
  }

  private cluster(): string {
    const c = this.opts.cluster();
    if (!c) throw new CoreflowError('COREFLOW_ERR_NOT_READY', { details: 'no desired state loaded yet: the cluster is unknown' });
    return c;
  }

  /** The backup-enabled volume mounts of a live service, or the one asked for. */
  private backupVolumes(service: string, mounts: LiveMount[], only?: string, hasBindings = false): BackupVolume[] {
    const enabled = mounts
      .filter((m) => m.Type === 'volume' && m.Source && m.VolumeOptions?.Labels?.[LABEL_VOLUME_BACKUP] === 'true')
      .map((m) => ({ volume: m.Source!, ...(m.Target ? { mountPath: m.Target } : {}), ...(m.VolumeOptions ? { options: m.VolumeOptions } : {}) }));
    if (enabled.length === 0 && (!hasBindings || only !== undefined)) throw new CoreflowError('COREFLOW_ERR_BACKUP_NO_VOLUMES', { service });
    if (only === undefined) return enabled;
    const chosen = enabled.filter((v) => v.volume === only || v.mountPath === only);
    if (chosen.length === 0) throw new CoreflowError('COREFLOW_ERR_BACKUP_UNKNOWN_VOLUME', { service, volume: only, volumes: enabled.map((v) => v.volume).join(', ') });
    return chosen;
  }

  /** Refuses an operation on an agent that may not run one now (a standby). */
  private ensureReady(): void {
    const notReady = this.opts.notReady?.();
    if (notReady) throw new CoreflowError('COREFLOW_ERR_NOT_READY', { details: `backups and restores run on the agent that holds the lease; this one is not: ${notReady}` });
  }

  private begin(kind: BackupOperation['kind'], service: string, id: string, backupId: string): BackupOperation {
    const running = this.busy.get(service);
    if (running) throw new CoreflowError('COREFLOW_ERR_BACKUP_BUSY', { kind: running.kind, id: running.id, service });
    const op: BackupOperation = { id, kind, service, state: 'running', startedAt: this.now().toISOString(), bytesDone: 0, backupId };
    this.busy.set(service, op);
    this.ops.set(id, op);
    this.opts.bus.emit({ type: `${kind}.start`, resourceType: 'backup', kind: 'service', name: service, summary: `${kind} ${id} of ${service} started`, details: { id, backupId } });
    this.changed(op);
    return op;
  }

  private finish(op: BackupOperation, err?: unknown): void {
    op.state = err ? 'failed' : 'succeeded';
    op.finishedAt = this.now().toISOString();
    if (this.busy.get(op.service) === op) this.busy.delete(op.service);
    const details = { id: op.id, backupId: op.backupId, bytes: op.bytesDone };
    if (err) {
      op.error = errorText(err);
      op.code = errorCode(err);
      this.opts.log.error({ id: op.id, service: op.service, code: op.code, err: op.error }, `${op.kind} failed`);
      this.opts.bus.emit({ type: `${op.kind}.failed`, resourceType: 'backup', kind: 'service', name: op.service, summary: `${op.kind} ${op.id} of ${op.service} failed: ${op.error}`, code: op.code, details });
    } else {
      this.opts.log.info({ id: op.id, service: op.service, bytes: op.bytesDone }, `${op.kind} done`);
      this.opts.bus.emit({ type: `${op.kind}.complete`, resourceType: 'backup', kind: 'service', name: op.service, summary: `${op.kind} ${op.id} of ${op.service} done (${op.bytesDone} bytes)`, details });
    }
    this.changed(op);
    const finished = [...this.ops.values()].filter((o) => o.state !== 'running');
    for (const old of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.ops.delete(old.id);
  }

  /** Progress of an operation across its volumes: `base` bytes are from volumes already done. */
  private progress(op: BackupOperation, base: number): (done: number, total: number | undefined) => void {
    let last = 0;
    return (done, total) => {
      op.bytesDone = base + done;
      if (total !== undefined) op.bytesTotal = base + total;
      const t = this.now().getTime();
      if (t - last < PROGRESS_EVERY_MS) return;
      last = t;
      const details: Record<string, number | string> = { id: op.id, bytesDone: op.bytesDone, ...(op.bytesTotal !== undefined ? { bytesTotal: op.bytesTotal } : {}) };
      this.opts.bus.emit({ type: `${op.kind}.progress`, resourceType: 'backup', kind: 'service', name: op.service, summary: `${op.kind} ${op.id}: ${op.bytesDone} bytes`, details });
      this.changed(op);
    };
  }

  private jobLabels(id: string): Record<string, string> {
    return { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_CLUSTER]: this.opts.cluster() ?? '', [LABEL_BACKUP_JOB]: id };
  }

  private jobName(kind: string): string {
    return `coreflow-${kind}-${randomBytes(5).toString('hex')}`;
  }

  /** One volume copied by a job on `node` into the store. */
  private async snapshotVolume(id: string, volume: string, node: string, onBytes: (done: number, total: number | undefined) => void, signal?: AbortSignal): Promise<StoredArchive> {
    const { docker, transfers, store } = this.opts;
    const grant = transfers.expectUpload(onBytes);
    let stored: StoredArchive | undefined;
    grant.result.then((s) => (stored = s), () => undefined);
    try {
      const endpoint = await this.opts.endpoint();
      const req = { name: this.jobName('snapshot'), image: await this.opts.image(), node, volume, endpoint, path: grant.path, token: grant.token, labels: this.jobLabels(id) };
      await runVolumeJob(docker, req, SNAPSHOT_SCRIPT, true, { timeoutMs: this.opts.jobTimeoutMs, stopped: grant.result, ...(signal ? { signal } : {}) });
      return await grant.result;
    } catch (err) {
      if (stored) await store.discard(stored.digest);
      throw err;
    } finally {
      grant.close();
    }
  }

  private async takeSnapshots(op: BackupOperation | undefined, id: string, volumes: BackupVolume[], node: string, signal?: AbortSignal): Promise<VolumeArchive[]> {
    const archives: VolumeArchive[] = [];
    let base = 0;
    for (const v of volumes) {
      const onBytes = op ? this.progress(op, base) : () => undefined;
      const stored = await this.snapshotVolume(id, v.volume, node, onBytes, signal);
      base += stored.size;
      archives.push({ volume: v.volume, ...(v.mountPath ? { mountPath: v.mountPath } : {}), node, size: stored.size, digest: stored.digest });
    }
    return archives;
  }

  private manifest(id: string, service: string, serviceId: string | undefined, reason: BackupReason, consistency: 'live' | 'stop', volumes: VolumeArchive[], createdAt: Date, bindings: BindingSnapshot[] = []): BackupManifest {
    return { id, cluster: this.cluster(), service, ...(serviceId ? { serviceId } : {}), createdAt: createdAt.toISOString(), reason, consistency, coreflowVersion: this.opts.version, volumes, bindings };
  }

  /** The bindings the service owns in Corestore (none without a provider). */
  private async bindingsOf(service: string, signal?: AbortSignal): Promise<BindingRef[]> {
    if (!this.opts.bindings) return [];
    return this.opts.bindings.bindings(this.cluster(), service, signal ?? new AbortController().signal);
  }

  private async snapshotBindings(id: string, bindings: BindingRef[], signal?: AbortSignal): Promise<BindingSnapshot[]> {
    const out: BindingSnapshot[] = [];
    for (const b of bindings) {
      const snapshotId = snapshotIdFor(id, b);
      const done = await this.opts.bindings!.snapshot(b, snapshotId, signal ?? new AbortController().signal);
      out.push({ type: b.type, name: b.name, snapshotId, ...(done.sizeBytes !== undefined ? { sizeBytes: done.sizeBytes } : {}) });
    }
    return out;
  }

  private newId(): string {
    return newBackupId(this.now(), randomBytes(3).toString('hex'));
  }

  /**
   * Starts a backup of a service's backup-enabled volumes (or of one, by volume name or mount
   * path). Bad input is refused before anything starts: an unknown service or volume, a service
   * without backup-enabled volumes, another operation of the service still running.
   */
  async backup(service: string, opts: { volume?: string; reason?: BackupReason; signal?: AbortSignal } = {}): Promise<Started> {
    this.ensureReady();
    const live = await ownedService(this.opts.docker, this.cluster(), service, opts.signal);
    const bindings = opts.volume === undefined ? await this.bindingsOf(service, opts.signal) : [];
    const volumes = this.backupVolumes(service, live.mounts, opts.volume, bindings.length > 0);
    const createdAt = this.now();
    const id = this.newId();
    const op = this.begin('backup', service, id, id);
    return this.settle(op, async () => {
      const consistency = this.opts.consistency(service);
      const node = await nodeOfService(this.opts.docker, live.id, opts.signal);
      const [archives, snapshots] = await this.withScaledDown(consistency === 'stop', live.id, service, `backup ${id}`, async () => [
        await this.takeSnapshots(op, id, volumes, node, opts.signal),
        await this.snapshotBindings(id, bindings, opts.signal),
      ] as const);
      const manifest = this.manifest(id, service, live.id, opts.reason ?? 'manual', consistency, archives, createdAt, snapshots);
      await this.opts.store.save(manifest);
      if (this.opts.replicator) void this.replicate();
      return manifest;
    });
  }

  /**
   * A snapshot of a volume no service mounts any more, on the agent's node (where the volume
   * prune step sees it), before it is removed. Resolves with the backup saved.
   */
  async snapshotUnmounted(volume: string, labels: Record<string, string>, signal?: AbortSignal): Promise<BackupManifest> {
    const id = this.newId();
    const createdAt = this.now();
    const node = await localNode(this.opts.docker, signal);
    const archives = await this.takeSnapshots(undefined, id, [{ volume }], node, signal);
    const manifest = this.manifest(id, labels[LABEL_VOLUME_SERVICE] ?? '', undefined, 'before-prune', 'live', archives, createdAt);
    await this.opts.store.save(manifest);
    this.opts.bus.emit({ type: 'backup.complete', resourceType: 'backup', kind: 'volume', name: volume, summary: `backup ${id} of volume ${volume} taken before its removal`, details: { id, backupId: id, bytes: archives[0]?.size ?? 0 } });
    return manifest;
  }

  /**
   * Copies every backup not yet on the control plane there (resuming partial uploads), one pass
   * at a time; marks each with `replicatedAt`. Failures are logged and retried by the next pass.
   */
  replicate(signal?: AbortSignal): Promise<void> {
    const replicator = this.opts.replicator;
    if (!replicator) return Promise.resolve();
    this.replicating = this.replicating.then(async () => {
      for (const m of await this.opts.store.list()) {
        if (m.replicatedAt) continue;
        try {
          const sent = await replicator.replicate(m, signal);
          await this.opts.store.save({ ...m, replicatedAt: this.now().toISOString() });
          this.opts.bus.emit({ type: 'backup.replicated', resourceType: 'backup', kind: 'backup', name: m.id, summary: `backup ${m.id} copied to the control plane (${sent} bytes sent)`, details: { id: m.id, bytes: sent } });
        } catch (err) {
          this.opts.log.warn({ id: m.id, code: errorCode(err), err: errorText(err) }, 'backup not replicated; the next pass resumes it');
          return;
        }
      }
    });
    return this.replicating;
  }

  /** Runs `work` with the service scaled to 0 (and held out of reconciling) when `stop` is set. */
  private async withScaledDown<T>(stop: boolean, serviceId: string, service: string, why: string, work: () => Promise<T>): Promise<T> {
    if (!stop) return work();
    const release = this.opts.holds.hold(service, `${why} in progress`);
    let before: number | undefined;
    try {
      before = await scaleService(this.opts.docker, serviceId, 0);
      return await work();
    } finally {
      try {
        if (before !== undefined) await scaleService(this.opts.docker, serviceId, before);
      } finally {
        release();
      }
    }
  }

  /**
   * Starts a restore of a backup: into the volumes it was taken from (the service is scaled to 0
   * and back, and a snapshot of the current data is taken first), or into a new volume
   * (`toVolume`, one volume only; the service is not touched). Every archive's digest is checked
   * before anything is written; a failed restore leaves the previous data in place.
   */
  async restore(backupId: string, opts: { volume?: string; toVolume?: string; signal?: AbortSignal } = {}): Promise<Started> {
    this.ensureReady();
    const { docker, store } = this.opts;
    const manifest = await store.get(backupId);
    const entries = opts.volume === undefined ? manifest.volumes : manifest.volumes.filter((v) => v.volume === opts.volume || v.mountPath === opts.volume);
    if (entries.length === 0 && (opts.volume !== undefined || manifest.bindings.length === 0)) {
      throw new CoreflowError('COREFLOW_ERR_BACKUP_UNKNOWN_VOLUME', { service: manifest.service, volume: opts.volume ?? '', volumes: manifest.volumes.map((v) => v.volume).join(', ') });
    }
    if (opts.toVolume !== undefined && entries.length !== 1) {
      throw new CoreflowError('COREFLOW_ERR_BACKUP_INVALID', { details: `backup ${backupId} has ${entries.length} volumes: name the one to restore into ${opts.toVolume} (volume)` });
    }
    if (opts.toVolume !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(opts.toVolume)) {
      throw new CoreflowError('COREFLOW_ERR_BACKUP_INVALID', { details: `toVolume: "${opts.toVolume}" is not a valid volume name` });
    }
    const live = opts.toVolume === undefined || manifest.service ? await ownedService(docker, this.cluster(), manifest.service, opts.signal).catch((err: unknown) => {
      if (opts.toVolume !== undefined) return undefined;
      throw err;
    }) : undefined;
    const mounts = new Map((live?.mounts ?? []).filter((m) => m.Source).map((m) => [m.Source!, m]));
    const id = `rs-${this.newId().slice(3)}`;
    const bindings = opts.volume === undefined && opts.toVolume === undefined ? manifest.bindings : [];
    if (bindings.length > 0 && !this.opts.bindings) {
      throw new CoreflowError('COREFLOW_ERR_BACKUP_INVALID', { details: `backup ${backupId} holds Corestore snapshots but no Corestore API token is set` });
    }
    const op = this.begin('restore', manifest.service || `volume/${entries[0]?.volume ?? ''}`, id, backupId);
    op.bytesTotal = entries.reduce((n, e) => n + e.size, 0);
    return this.settle(op, async () => {
      for (const e of entries) {
        if (this.opts.replicator && !(await store.has(e.digest))) await this.opts.replicator.fetch(e.digest, opts.signal);
        await store.verify(e.digest, opts.signal);
      }
      const node = live ? await nodeOfService(docker, live.id, opts.signal) : entries[0]?.node ?? '';
      if (opts.toVolume !== undefined) {
        const options = mounts.get(entries[0]!.volume)?.VolumeOptions;
        await this.restoreVolume(op, id, entries[0]!, { target: opts.toVolume, intoNew: true, ...(options ? { options } : {}) }, node, 0, opts.signal);
      } else {
        const current = entries.filter((e) => mounts.has(e.volume)).map((e) => ({ volume: e.volume, ...(e.mountPath ? { mountPath: e.mountPath } : {}) }));
        const stop = live?.replicas !== undefined;
        await this.withScaledDown(stop, live?.id ?? '', manifest.service, `restore ${id}`, async () => {
          // The data about to be overwritten, taken once nothing writes to it any more: the
          // snapshot holds every write up to the restore.
          if (current.length > 0 && live) {
            const safety = this.newId();
            const archives = await this.takeSnapshots(undefined, safety, current, node, opts.signal);
            await store.save(this.manifest(safety, manifest.service, live.id, 'before-restore', stop ? 'stop' : 'live', archives, this.now()));
          }
          let base = 0;
          for (const e of entries) {
            await this.restoreVolume(op, id, e, { target: e.volume }, node, base, opts.signal);
            base += e.size;
          }
          const owner = { cluster: manifest.cluster, service: manifest.service };
          for (const b of bindings) await this.opts.bindings!.restore({ type: b.type, name: b.name, owner }, b.snapshotId, opts.signal ?? new AbortController().signal);
        });
      }
      return manifest;
    });
  }

  /** Runs an operation's work in the background: finishes the operation with its outcome; `done` settles with it. */
  private settle(op: BackupOperation, work: () => Promise<BackupManifest>): Started {
    const done = work().then(
      (manifest) => (this.finish(op), manifest),
      (err: unknown) => {
        this.finish(op, err);
        throw err;
      },
    );
    done.catch(() => undefined);
    return { operation: op, done };
  }

  /**
   * Unpacks one archive into `into.target` on `node`. `intoNew`: a restore into a new volume, which
   * never overwrites data: a volume that already holds any is refused (COREFLOW_ERR_BACKUP_INVALID).
   */
  private async restoreVolume(op: BackupOperation, id: string, archive: VolumeArchive, into: { target: string; intoNew?: boolean; options?: LiveMount['VolumeOptions'] }, node: string, base: number, signal?: AbortSignal): Promise<void> {
    const { target, intoNew, options } = into;
    const grant = this.opts.transfers.offerDownload({ digest: archive.digest, size: archive.size }, this.progress(op, base));
    try {
      const endpoint = await this.opts.endpoint();
      const volumeOptions = options ? { ...options, Labels: { ...(options.Labels ?? {}), [LABEL_VOLUME_SERVICE]: options.Labels?.[LABEL_VOLUME_SERVICE] ?? op.service } } : undefined;
      const req = { name: this.jobName('restore'), image: await this.opts.image(), node, volume: target, endpoint, path: grant.path, token: grant.token, labels: this.jobLabels(id), ...(volumeOptions ? { volumeOptions } : {}), ...(intoNew ? { intoNew } : {}) };
      await runVolumeJob(this.opts.docker, req, RESTORE_SCRIPT, false, { timeoutMs: this.opts.jobTimeoutMs, ...(signal ? { signal } : {}) }).catch((err: unknown) => {
        if (intoNew && isCoreflowError(err, 'COREFLOW_ERR_BACKUP_JOB') && err.params.exitCode === EXIT_NOT_EMPTY) {
          throw new CoreflowError('COREFLOW_ERR_BACKUP_INVALID', { details: `toVolume: volume ${target} already holds data; a restore into a new volume never overwrites any (name a new volume, or restore in place)` });
        }
        throw err;
      });
    } finally {
      grant.close();
    }
  }
}
