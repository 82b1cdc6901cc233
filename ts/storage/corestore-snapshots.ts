import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { CoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import type { CorestoreClient } from './corestore-client.ts';
import type { BindingOwner, BindingType, ProviderScope } from './platform-provider.ts';

/** A binding as the snapshot calls name it. */
export interface BindingRef {
  type: BindingType;
  name: string;
  owner: BindingOwner;
}

const state = z.enum(['pending', 'ready', 'failed']);
export const snapshotSchema = z.looseObject({ id: z.string(), state, createdAt: z.string(), sizeBytes: z.number().optional(), message: z.string().optional() });
export const restoreSchema = z.looseObject({ id: z.string(), state, message: z.string().optional() });
export type CorestoreSnapshot = z.output<typeof snapshotSchema>;
export type CorestoreRestore = z.output<typeof restoreSchema>;

function path(b: { type: BindingType; name: string }): string {
  return `/v1/bindings/${encodeURIComponent(b.type)}/${encodeURIComponent(b.name)}`;
}

function need<T>(value: T | undefined, operation: string): T {
  if (value === undefined) throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation, status: 'bad response', details: 'empty answer' });
  return value;
}

/** POST .../snapshots: starts a snapshot (idempotent on `snapshotId`). */
export async function startSnapshot(client: CorestoreClient, b: BindingRef, snapshotId: string, scope: ProviderScope): Promise<CorestoreSnapshot> {
  const operation = `snapshot ${b.type} ${b.name}`;
  const res = await client.request({ operation, method: 'POST', path: `${path(b)}/snapshots`, body: { owner: b.owner, snapshotId }, parse: z.looseObject({ snapshot: snapshotSchema }) }, scope);
  return need(res, operation).snapshot;
}

/** GET .../snapshots/<id>. */
export async function getSnapshot(client: CorestoreClient, b: BindingRef, id: string, scope: ProviderScope): Promise<CorestoreSnapshot> {
  const operation = `read snapshot ${id} of ${b.type} ${b.name}`;
  const res = await client.request({ operation, method: 'GET', path: `${path(b)}/snapshots/${encodeURIComponent(id)}`, parse: z.looseObject({ snapshot: snapshotSchema }) }, scope);
  return need(res, operation).snapshot;
}

/** GET .../snapshots: every snapshot of the binding. */
export async function listSnapshots(client: CorestoreClient, b: BindingRef, scope: ProviderScope): Promise<CorestoreSnapshot[]> {
  const operation = `list snapshots of ${b.type} ${b.name}`;
  const res = await client.request({ operation, method: 'GET', path: `${path(b)}/snapshots`, parse: z.looseObject({ snapshots: z.array(snapshotSchema) }) }, scope);
  return need(res, operation).snapshots;
}

/** POST .../snapshots/<id>/restore: starts restoring the binding's data from a snapshot. */
export async function startRestore(client: CorestoreClient, b: BindingRef, snapshotId: string, scope: ProviderScope): Promise<CorestoreRestore> {
  const operation = `restore ${b.type} ${b.name} from ${snapshotId}`;
  const res = await client.request({ operation, method: 'POST', path: `${path(b)}/snapshots/${encodeURIComponent(snapshotId)}/restore`, body: { owner: b.owner }, parse: z.looseObject({ restore: restoreSchema }) }, scope);
  return need(res, operation).restore;
}

/** GET .../restores/<id>. */
export async function getRestore(client: CorestoreClient, b: BindingRef, id: string, scope: ProviderScope): Promise<CorestoreRestore> {
  const operation = `read restore ${id} of ${b.type} ${b.name}`;
  const res = await client.request({ operation, method: 'GET', path: `${path(b)}/restores/${encodeURIComponent(id)}`, parse: z.looseObject({ restore: restoreSchema }) }, scope);
  return need(res, operation).restore;
}

/** A snapshot id Corestore accepts (`^[a-z0-9][a-z0-9-]{0,62}$`), stable for one backup and binding. */
export function snapshotIdFor(backupId: string, b: { type: BindingType; name: string }): string {
  return `${backupId.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 50)}-${createHash('sha256').update(`${b.type}/${b.name}`).digest('hex').slice(0, 8)}`;
}

/** What a backup needs of a platform provider: the service's bindings, snapshot and restore to the end. */
export interface BindingSnapshots {
  bindings(cluster: string, service: string, signal: AbortSignal): Promise<BindingRef[]>;
  /** Takes a snapshot and waits until it is ready; its size when Corestore tells it. */
  snapshot(b: BindingRef, snapshotId: string, signal: AbortSignal): Promise<{ sizeBytes?: number }>;
  /** Restores from a snapshot and waits until it is done. */
  restore(b: BindingRef, snapshotId: string, signal: AbortSignal): Promise<void>;
}

/**
 * BindingSnapshots through the Corestore control API: polls a pending snapshot or restore every
 * `pollMs` until it is ready, failed (COREFLOW_ERR_CORESTORE_API with Corestore's message) or
 * `timeoutMs` has passed.
 */
export function corestoreBindingSnapshots(client: CorestoreClient, log: Logger, opts: { pollMs?: number; timeoutMs?: number } = {}): BindingSnapshots {
  const pollMs = opts.pollMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 3_600_000;
  const until = async <T extends { state: string; message?: string | undefined }>(operation: string, first: T, next: () => Promise<T>, signal: AbortSignal): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let current = first;
    while (current.state === 'pending') {
      if (Date.now() > deadline) throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation, status: 'timeout', details: `still pending after ${timeoutMs} ms` });
      await delay(pollMs, undefined, { signal });
      current = await next();
    }
    if (current.state === 'failed') throw new CoreflowError('COREFLOW_ERR_CORESTORE_API', { operation, status: 'failed', details: current.message ?? 'Corestore reported a failure' });
    return current;
  };
  return {
    async bindings(cluster, service, signal) {
      const all = await client.list(cluster, { signal, log });
      return all.filter((b) => b.owner.service === service).map((b) => ({ type: b.type, name: b.name, owner: b.owner }));
    },
    async snapshot(b, snapshotId, signal) {
      const scope = { signal, log };
      const done = await until(`snapshot ${b.type} ${b.name}`, await startSnapshot(client, b, snapshotId, scope), () => getSnapshot(client, b, snapshotId, scope), signal);
      return done.sizeBytes !== undefined ? { sizeBytes: done.sizeBytes } : {};
    },
    async restore(b, snapshotId, signal) {
      const scope = { signal, log };
      const started = await startRestore(client, b, snapshotId, scope);
      await until(`restore ${b.type} ${b.name}`, started, () => getRestore(client, b, started.id, scope), signal);
    },
  };
}
