import type { RunResult } from './types.ts';
import type { EventBus } from '../observe/events.ts';

/**
 * Reports object failures on the bus as `error` events, a terminal one (bad input) once per
 * change: the same object failing with the same error on the same desired state is not
 * reported again on every resync; a new spec or a new error text reports it anew. Transient
 * failures are reported each time (they are retried with backoff, so they are rare).
 */
export class ErrorReporter {
  private readonly reported = new Map<string, string>();

  constructor(private readonly bus: EventBus) {}

  afterRun(result: RunResult): void {
    if (result.dryRun) return;
    const seen = new Set<string>();
    for (const step of result.steps) {
      for (const a of step.actions) {
        if (a.status !== 'failed') continue;
        const key = `${a.kind}/${a.name}`;
        seen.add(key);
        const fingerprint = `${result.specHash}|${a.error ?? ''}`;
        if (a.terminal && this.reported.get(key) === fingerprint) continue;
        if (a.terminal) this.reported.set(key, fingerprint);
        this.bus.emit({
          type: 'error',
          resourceType: step.kind,
          kind: a.kind,
          name: a.name,
          runId: result.runId,
          summary: `${a.type} ${a.kind} ${a.name} failed: ${a.error ?? 'unknown error'}`,
          ...(a.code ? { code: a.code } : {}),
          details: { terminal: a.terminal === true },
        });
      }
    }
    for (const key of this.reported.keys()) if (!seen.has(key)) this.reported.delete(key);
  }
}
