import cron from 'node-cron';
import { errorLogFields } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';
import type { ClusterSpec } from '../spec/types.ts';
import type { BackupManager } from './backup-manager.ts';

export interface ScheduledJob {
  stop(): unknown;
}

/** Starts a timer for a cron expression (node-cron by default; tests pass their own). */
export type CronStarter = (expression: string, tick: () => void) => ScheduledJob;

const nodeCron: CronStarter = (expression, tick) => cron.schedule(expression, tick);

/**
 * Scheduled backups: one timer per service with `backup.schedule`, kept in line with the desired
 * state (`sync`). Each tick backs the service up (reason `schedule`) and then keeps only the
 * newest `backup.keep` scheduled backups of the service; manual and automatic backups (before a
 * prune or a restore) are never removed by retention.
 */
export class BackupSchedule implements Lifecycle {
  readonly name = 'backup-schedule';
  private readonly timers = new Map<string, { expression: string; job: ScheduledJob }>();
  private running = false;

  constructor(
    private readonly opts: { manager: BackupManager; spec: () => ClusterSpec | undefined; log: Logger; cron?: CronStarter },
  ) {}

  async start(): Promise<void> {
    this.running = true;
    this.sync();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers.values()) t.job.stop();
    this.timers.clear();
  }

  /** Adds, changes and removes timers to match the desired services' schedules. */
  sync(): void {
    if (!this.running) return;
    const wanted = new Map((this.opts.spec()?.services ?? []).filter((s) => s.backup?.schedule).map((s) => [s.name, s.backup!.schedule!]));
    for (const [service, t] of this.timers) {
      if (wanted.get(service) === t.expression) continue;
      t.job.stop();
      this.timers.delete(service);
    }
    for (const [service, expression] of wanted) {
      if (this.timers.has(service)) continue;
      try {
        this.timers.set(service, { expression, job: (this.opts.cron ?? nodeCron)(expression, () => void this.tick(service)) });
      } catch (err) {
        this.opts.log.error({ service, schedule: expression, ...errorLogFields(err) }, 'backup schedule not started');
      }
    }
  }

  /** The services with a running schedule. */
  get scheduled(): string[] {
    return [...this.timers.keys()];
  }

  /** One scheduled backup of `service`, then retention. Never throws: failures are logged (and are events). */
  async tick(service: string): Promise<void> {
    const { manager, log } = this.opts;
    try {
      const started = await manager.backup(service, { reason: 'schedule' });
      await started.done;
      const keep = this.opts.spec()?.services.find((s) => s.name === service)?.backup?.keep;
      if (keep === undefined) return;
      const scheduled = (await manager.list(service)).filter((m) => m.reason === 'schedule');
      for (const old of scheduled.slice(0, Math.max(0, scheduled.length - keep))) await manager.delete(old.id);
    } catch (err) {
      log.error({ service, ...errorLogFields(err) }, 'scheduled backup failed');
    }
  }
}
