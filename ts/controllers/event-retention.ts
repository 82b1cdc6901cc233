import type { EventLog } from '../observe/event-log.ts';
import type { Controller } from './manager.ts';

/** Event retention: trims the on-disk event log by age and size; returns how many events it dropped. */
export class EventRetentionController implements Controller {
  readonly name = 'event-retention';

  constructor(
    private readonly log: EventLog,
    private readonly limits: { maxAgeMs: number; maxBytes: number },
    readonly intervalMs = 60_000,
  ) {}

  reconcile(): Promise<number> {
    return this.log.trim(this.limits);
  }
}
