/**
 * The pure rules of the agent lease (see swarm-lease.ts): from the lease record read from the
 * swarm, who this agent is and the time on this agent's clock, what to do next.
 *
 * Expiry is judged on the reader's own clock, never on the time the holder wrote: a standby
 * notes when it first saw a version of the record and takes the lease only once that same
 * version has stood unchanged for the whole lease time. Clocks of different managers may
 * disagree; elapsed time on one clock is all that is trusted.
 */

/** The lease as stored in the swarm. */
export interface LeaseRecord {
  /** The Swarm object's ID and version index (the update is made at this version). */
  id: string;
  version: number;
  /** Who holds it; '' once released by a clean stop. */
  holder: string;
  /** The lease time the holder announced. */
  leaseMs: number;
}

/** When this agent first saw a given version of the record (its own clock). */
export interface Observation {
  id: string;
  version: number;
  since: number;
}

export type LeaseDecision =
  | { kind: 'create' }
  | { kind: 'renew' }
  | { kind: 'take'; reason: 'released' | 'expired' }
  | { kind: 'wait'; holder: string; expiresAt: number };

/** The observation after reading `record` at `now`: kept while the version is the same, else started anew. */
export function observe(seen: Observation | undefined, record: LeaseRecord, now: number): Observation {
  return seen && seen.id === record.id && seen.version === record.version ? seen : { id: record.id, version: record.version, since: now };
}

/** What to do with the lease `record` (undefined: there is none yet) as agent `me` at `now`. */
export function decideLease(record: LeaseRecord | undefined, me: string, now: number, seen: Observation | undefined): LeaseDecision {
  if (!record) return { kind: 'create' };
  if (record.holder === me) return { kind: 'renew' };
  if (record.holder === '') return { kind: 'take', reason: 'released' };
  const since = observe(seen, record, now).since;
  if (now - since >= record.leaseMs) return { kind: 'take', reason: 'expired' };
  return { kind: 'wait', holder: record.holder, expiresAt: since + record.leaseMs };
}

/**
 * Whether the holder may still act at `now`, its last successful write having been sent at
 * `renewedSentAt`: a standby cannot have taken over before `renewedSentAt + leaseMs` on any
 * clock running at the same rate, so the holder stops a margin before that.
 */
export function stillHeld(renewedSentAt: number, leaseMs: number, now: number): boolean {
  return now < renewedSentAt + leaseMs - Math.max(200, leaseMs / 10);
}
