import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { dockerRequest } from '../docker/request.ts';
import { LABEL_CLUSTER, LABEL_KIND, LABEL_MANAGED_BY, MANAGED_BY } from '../docker/labels.ts';
import { CoreflowError, errorLogFields, errorText, isCoreflowError } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import { decideLease, observe, stillHeld, type LeaseRecord, type Observation } from './lease-decision.ts';

export const LABEL_LEASE_HOLDER = 'coreflow.lease.holder';
export const LABEL_LEASE_MS = 'coreflow.lease.ms';
/** The holder's own time of its last renewal (for people reading it; expiry is judged on the reader's clock). */
export const LABEL_LEASE_RENEWED_AT = 'coreflow.lease.renewed-at';
/** The holder's state identity (lineage, serial), so an agent that takes over continues the history. */
export const LABEL_STATE_LINEAGE = 'coreflow.state.lineage';
export const LABEL_STATE_SERIAL = 'coreflow.state.serial';
const LEASE_KIND = 'lease';
/** A clean stop gives up releasing after this long (a hung engine must not hold up the stop). */
const RELEASE_TIMEOUT_MS = 2000;
const LEASE_DATA = Buffer.from('coreflow agent lease: see the labels\n').toString('base64');

/** Time for the lease logic; tests pass their own. `sleep` resolves early (never rejects) when `signal` aborts. */
export interface LeaseClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: LeaseClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
};

/** The Swarm config holding a cluster's lease: `<cluster>-lease` (a hashed form past 64 characters). */
export function leaseName(cluster: string): string {
  const name = `${cluster}-lease`;
  if (name.length <= 64) return name;
  return `${cluster.slice(0, 40)}-lease-${createHash('sha256').update(cluster).digest('hex').slice(0, 16)}`;
}

export type LeaseState = 'waiting' | 'standby' | 'holding' | 'lost' | 'stopped';

/** The lease as /v1/status and the metrics show it. */
export interface LeaseStatus {
  state: LeaseState;
  /** This agent's holder id. */
  me: string;
  /** The Swarm config of the lease, once the cluster is known. */
  name?: string;
  /** Who holds it, as last read. */
  holder?: string;
  /** For a standby: when it takes over if the holder stops renewing (its own clock). */
  takeoverAt?: string;
  leaseSeconds: number;
  /** Why the last attempt to read or write the lease failed. */
  error?: string;
}

export interface SwarmLeaseOptions {
  docker: Docker;
  /** The cluster the lease is for; undefined until the desired state is known (the lease waits). */
  cluster: () => string | undefined;
  /** This agent's id, unique per process. */
  holder: string;
  leaseMs: number;
  log: Logger;
  /** Called once when a held lease is lost (taken by another agent, or not renewed in time). */
  onLost: (err: CoreflowError) => void;
  clock?: LeaseClock;
  /** The state file's lineage and serial, written with every renewal (see `inherited`). */
  stateIdentity?: () => StateIdentity;
}

export interface StateIdentity {
  lineage: string;
  serial: number;
}

interface RawConfig {
  ID: string;
  Version: { Index: number };
  Spec: { Name: string; Labels?: Record<string, string>; Data?: string };
}

function isVersionConflict(err: unknown): boolean {
  return isCoreflowError(err, 'COREFLOW_ERR_DOCKER_API') && /update out of sequence/.test(err.message);
}

/**
 * One agent at a time per cluster, across managers: a lease held in an owned Swarm config
 * (`<cluster>-lease`) whose labels name the holder. Every write is an update at the version
 * index just read, which swarmkit checks in its raft store: of two agents writing at once, one
 * gets "update out of sequence" and stays standby. The holder renews every third of the lease
 * time; a standby takes the lease once it was released (clean stop) or the same version stood
 * unchanged for the whole lease time on its own clock. A holder that cannot renew stops acting
 * before a standby could take over, and is told through `onLost`.
 */
export class SwarmLease implements Lifecycle {
  readonly name = 'lease';
  private readonly clock: LeaseClock;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private held = false;
  private renewedSentAt = 0;
  private heldName: string | undefined;
  private seen: Observation | undefined;
  private last: { name?: string; record?: LeaseRecord; error?: string } = {};
  private state: LeaseState = 'waiting';
  private readonly acquiredWaiters = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();
  private readonly changeListeners = new Set<() => void>();
  /** The state identity the previous holder last wrote, read when this agent took the lease. */
  inherited: StateIdentity | undefined;

  constructor(private readonly opts: SwarmLeaseOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Whether this agent may reconcile now. */
  get holding(): boolean {
    return this.held && stillHeld(this.renewedSentAt, this.opts.leaseMs, this.clock.now());
  }

  status(): LeaseStatus {
    const r = this.last.record;
    const takeover = r && this.seen && this.state === 'standby' && r.holder !== '' ? this.seen.since + r.leaseMs : undefined;
    return {
      state: this.state,
      me: this.opts.holder,
      ...(this.last.name ? { name: this.last.name } : {}),
      ...(this.held ? { holder: this.opts.holder } : r?.holder ? { holder: r.holder } : {}),
      ...(takeover !== undefined ? { takeoverAt: new Date(takeover).toISOString() } : {}),
      leaseSeconds: this.opts.leaseMs / 1000,
      ...(this.last.error ? { error: this.last.error } : {}),
    };
  }

  /** One line for /readyz and logs: why this agent is not reconciling. */
  describe(): string {
    const s = this.status();
    if (s.state === 'waiting') return 'waiting for the desired state to know the cluster of the lease';
    if (s.state === 'standby') return `standby: lease ${s.name} held by ${s.holder ?? 'nobody'}${s.takeoverAt ? `; taken over at ${s.takeoverAt} unless renewed` : ''}${s.error ? ` (${s.error})` : ''}`;
    return `lease ${s.name ?? ''} ${s.state}`;
  }

  /** Hears every change of state (standby, holding, lost). Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  async start(): Promise<void> {
    this.loop ??= this.run();
  }

  /** Resolves once this agent holds the lease; rejects when the lease stops first. */
  acquired(): Promise<void> {
    if (this.held) return Promise.resolve();
    if (this.abort.signal.aborted) return Promise.reject(new CoreflowError('COREFLOW_ERR_LEASE_LOST', { name: this.last.name ?? '?', details: 'the agent is stopping' }));
    return new Promise((resolve, reject) => this.acquiredWaiters.add({ resolve, reject }));
  }

  /** Ends the loop, then releases a held lease (a standby takes it at once instead of waiting out the lease time). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    for (const w of this.acquiredWaiters) w.reject(new CoreflowError('COREFLOW_ERR_LEASE_LOST', { name: this.last.name ?? '?', details: 'the agent is stopping' }));
    this.acquiredWaiters.clear();
    if (this.held && this.heldName) {
      this.held = false;
      try {
        const record = await this.read(this.heldName, AbortSignal.timeout(RELEASE_TIMEOUT_MS));
        if (record?.holder === this.opts.holder) {
          await this.write(this.heldName, record, '', AbortSignal.timeout(RELEASE_TIMEOUT_MS));
          this.opts.log.info({ lease: this.heldName }, 'lease released');
        }
      } catch (err) {
        this.opts.log.warn({ lease: this.heldName, ...errorLogFields(err) }, 'could not release the lease; another agent takes it when it expires');
      }
    }
    this.setState('stopped');
  }

  private setState(state: LeaseState): void {
    if (state === this.state) return;
    this.state = state;
    for (const l of this.changeListeners) l();
  }

  private async run(): Promise<void> {
    const { signal } = this.abort;
    const everyMs = Math.max(100, Math.floor(this.opts.leaseMs / 3));
    while (!signal.aborted) {
      try {
        await this.tick(signal);
        this.last.error = undefined;
      } catch (err) {
        if (signal.aborted) break;
        this.last.error = errorText(err);
        this.opts.log.warn({ lease: this.last.name, ...errorLogFields(err) }, 'lease read or write failed');
      }
      if (this.held && !stillHeld(this.renewedSentAt, this.opts.leaseMs, this.clock.now())) {
        this.lose(`not renewed within ${this.opts.leaseMs} ms${this.last.error ? `: ${this.last.error}` : ''}`);
      }
      if (this.state === 'lost') return;
      await this.clock.sleep(everyMs, signal);
    }
  }

  private lose(details: string): void {
    this.held = false;
    const err = new CoreflowError('COREFLOW_ERR_LEASE_LOST', { name: this.heldName ?? this.last.name ?? '?', details });
    this.opts.log.error(errorLogFields(err), 'lease lost; this agent stops reconciling');
    this.setState('lost');
    this.opts.onLost(err);
  }

  private async tick(signal: AbortSignal): Promise<void> {
    const cluster = this.opts.cluster();
    if (!cluster) return;
    const name = leaseName(cluster);
    if (this.held && name !== this.heldName) return this.lose(`the cluster changed to ${cluster}; the new cluster's lease is taken at the next start`);
    this.last.name = name;
    const record = await this.read(name, signal);
    this.last.record = record;
    const now = this.clock.now();
    const decision = decideLease(record, this.opts.holder, now, this.seen);
    this.seen = record ? observe(this.seen, record, now) : undefined;
    if (decision.kind === 'wait') {
      if (this.held) return this.lose(`now held by ${decision.holder}`);
      return this.setState('standby');
    }
    const sentAt = this.clock.now();
    try {
      if (decision.kind === 'create') await this.create(name, cluster, signal);
      else await this.write(name, record!, this.opts.holder, signal);
    } catch (err) {
      // Another agent wrote first: read again at the next tick (and stay standby).
      if (isVersionConflict(err) || (isCoreflowError(err, 'COREFLOW_ERR_DOCKER_API') && err.params.status === 409)) {
        if (this.held) return this.lose('another agent wrote the lease');
        return this.setState('standby');
      }
      throw err;
    }
    this.renewedSentAt = sentAt;
    if (!this.held) {
      if (record?.lineage) this.inherited = { lineage: record.lineage, serial: record.serial };
      this.held = true;
      this.heldName = name;
      this.opts.log.info({ lease: name, holder: this.opts.holder, how: decision.kind === 'take' ? decision.reason : decision.kind }, 'lease acquired; this agent reconciles');
      for (const w of this.acquiredWaiters) w.resolve();
      this.acquiredWaiters.clear();
    }
    this.setState('holding');
  }

  private labels(cluster: string, holder: string): Record<string, string> {
    return {
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_CLUSTER]: cluster,
      [LABEL_KIND]: LEASE_KIND,
      [LABEL_LEASE_HOLDER]: holder,
      [LABEL_LEASE_MS]: String(this.opts.leaseMs),
      [LABEL_LEASE_RENEWED_AT]: new Date(this.clock.now()).toISOString(),
      ...this.identityLabels(),
    };
  }

  private identityLabels(): Record<string, string> {
    const id = this.opts.stateIdentity?.();
    return id ? { [LABEL_STATE_LINEAGE]: id.lineage, [LABEL_STATE_SERIAL]: String(id.serial) } : {};
  }

  private async read(name: string, signal: AbortSignal): Promise<(LeaseRecord & { cluster: string; lineage?: string; serial: number }) | undefined> {
    const list = await dockerRequest<RawConfig[]>(this.opts.docker, { method: 'GET', path: '/configs', query: { filters: JSON.stringify({ name: [name] }) }, signal });
    const raw = list.find((c) => c.Spec.Name === name);
    if (!raw) return undefined;
    const labels = raw.Spec.Labels ?? {};
    if (labels[LABEL_MANAGED_BY] !== MANAGED_BY || labels[LABEL_KIND] !== LEASE_KIND) {
      throw new CoreflowError('COREFLOW_ERR_NOT_OWNED', { kind: 'config', name, cluster: this.opts.cluster() ?? '?' });
    }
    return { id: raw.ID, version: raw.Version.Index, holder: labels[LABEL_LEASE_HOLDER] ?? '', leaseMs: Number(labels[LABEL_LEASE_MS]) || this.opts.leaseMs, cluster: labels[LABEL_CLUSTER] ?? '', ...(labels[LABEL_STATE_LINEAGE] ? { lineage: labels[LABEL_STATE_LINEAGE] } : {}), serial: Number(labels[LABEL_STATE_SERIAL]) || 0 };
  }

  private async create(name: string, cluster: string, signal: AbortSignal): Promise<void> {
    await dockerRequest(this.opts.docker, { method: 'POST', path: '/configs/create', body: { Name: name, Labels: this.labels(cluster, this.opts.holder), Data: LEASE_DATA }, signal });
  }

  /** Rewrites the holder at the version read; swarmkit refuses it if anyone wrote since. */
  private async write(name: string, record: LeaseRecord & { cluster: string }, holder: string, signal: AbortSignal): Promise<void> {
    await dockerRequest(this.opts.docker, {
      method: 'POST',
      path: `/configs/${record.id}/update`,
      query: { version: record.version },
      body: { Name: name, Labels: this.labels(record.cluster, holder), Data: LEASE_DATA },
      signal,
    });
  }
}
