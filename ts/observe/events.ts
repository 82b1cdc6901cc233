import type { ErrorCode } from '../errors.ts';

/**
 * The agent's event bus: the reconcile lifecycle of a run (plan start/complete, apply
 * start/action/complete, drift detected, error) as typed events. Subscribers are the SSE
 * endpoint (/v1/events), the on-disk event log and, later, the control plane.
 *
 * Contract: an event names objects and counts changes; it never carries secret values (only
 * kinds, names, reasons, statuses and error texts, which are built without them).
 */
export const EVENT_TYPES = ['plan.start', 'plan.complete', 'apply.start', 'apply.action', 'apply.complete', 'drift.detected', 'plan.waiting', 'plan.approved', 'plan.stale', 'suspend.changed', 'warning', 'error'] as const;

export type CoreflowEventType = (typeof EVENT_TYPES)[number];

export interface CoreflowEvent {
  /** Increasing per bus; the SSE `id:`. */
  seq: number;
  type: CoreflowEventType;
  /** ISO time. */
  time: string;
  /** The chain step (networks, services...) or the controller that emitted it. */
  resourceType: string;
  /** The object kind and name, for per-object events (apply.action, drift, error). */
  kind?: string;
  name?: string;
  runId?: string;
  /** One line for a person: "2 to create, 1 to update". */
  summary: string;
  /** On `error` and `warning` events: the catalogue code of the error (docs/errors.md). */
  code?: ErrorCode;
  /** Small structured details: counts, statuses, durations. Never secret values. */
  details?: Record<string, string | number | boolean>;
}

export type NewEvent = Omit<CoreflowEvent, 'seq' | 'time'> & { time?: string };
export type EventListener = (e: CoreflowEvent) => void;

export class EventBus {
  private seq = 0;
  private readonly ring: CoreflowEvent[] = [];
  private readonly listeners = new Set<EventListener>();

  /** `keep`: how many recent events are replayed to a new SSE client. */
  constructor(private readonly keep = 200) {}

  /** Stamps and delivers an event. A throwing listener is dropped from that delivery only. */
  emit(e: NewEvent): CoreflowEvent {
    const event: CoreflowEvent = { ...e, seq: ++this.seq, time: e.time ?? new Date().toISOString() };
    this.ring.push(event);
    if (this.ring.length > this.keep) this.ring.shift();
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A broken subscriber must not break the run that emitted the event.
      }
    }
    return event;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last `n` events, oldest first. */
  recent(n = this.keep): CoreflowEvent[] {
    return n <= 0 ? [] : this.ring.slice(-n);
  }
}
