import type { TaskCount } from '../controllers/task-health.ts';
import { errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { buildStatus, type AgentStatus } from '../observe/status.ts';
import type { StatusReport } from '../protocol/methods.ts';
import type { RunResult } from '../reconcile/types.ts';
import type { Session } from './controlplane-connection.ts';
import { statusReport } from './status-report.ts';

export interface ReporterOptions {
  log: Logger;
  /** The current authenticated session, if any. */
  session: () => Session | undefined;
  /** Running tasks per service for reports, as task health last saw them (optional). */
  taskCounts?: () => Record<string, TaskCount>;
  /** The agent's three-axis status (/v1/status) for reports; without it, the status the last run alone gives. */
  status?: () => AgentStatus;
  /** Health reports between runs: at most one per this many ms (default 5000). */
  healthReportIntervalMs?: number;
  /** Backups and restores to carry in every report (optional). */
  backups?: () => NonNullable<StatusReport['backups']>;
}

/** Reports of a running backup's progress: at most one per this many ms. */
const BACKUP_PROGRESS_REPORT_MS = 5000;

/** How long a health change waits for more changes before it is reported. */
const HEALTH_COALESCE_MS = 250;

/** What a report's status says, without the time it was made: equal keys need no new report. */
function statusKey(s: AgentStatus): string {
  return JSON.stringify([s.overall, s.objects]);
}

/**
 * Reporting to the control plane (reportStatus): a report after every run and, coalesced, when the
 * status changes between runs. Without a session the newest report is kept and sent by `flush`
 * once one is up.
 */
export class ControlPlaneReporter {
  private unsent: StatusReport | undefined;
  private lastResult: RunResult | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private lastReportAt = 0;
  private lastStatusKey: string | undefined;
  private lastBackupReportAt = 0;
  private stopped = false;

  constructor(private readonly opts: ReporterOptions) {}

  /** Sends a run's report (not for dry runs). */
  report(result: RunResult): void {
    if (result.dryRun) return;
    this.lastResult = result;
    // This report carries the newest status: a pending health report would only repeat it.
    clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
    this.send('run', result);
  }

  /**
   * The agent's status changed between runs (a service's health): reports it, coalesced: after
   * a short quiet time, at most one per healthReportIntervalMs, and only when the status differs
   * from the last one reported. Nothing before the first run (its report carries the status).
   */
  statusChanged(): void {
    if (this.stopped || !this.lastResult || this.healthTimer) return;
    const interval = this.opts.healthReportIntervalMs ?? 5000;
    const wait = Math.max(HEALTH_COALESCE_MS, this.lastReportAt + interval - Date.now());
    this.healthTimer = setTimeout(() => {
      this.healthTimer = undefined;
      if (this.lastResult && !this.stopped) this.send('health', this.lastResult);
    }, wait);
  }

  /**
   * A backup or restore started, moved on or ended: reported at once when it started or ended
   * (`milestone`), progress at most every 5 s. Nothing before the first run.
   */
  backupChanged(milestone: boolean): void {
    if (this.stopped || !this.lastResult) return;
    if (!milestone && Date.now() - this.lastBackupReportAt < BACKUP_PROGRESS_REPORT_MS) return;
    this.lastBackupReportAt = Date.now();
    this.send('backup', this.lastResult);
  }

  /** Sends the kept report, if any, over the current session. */
  flush(): void {
    const report = this.unsent;
    const session = this.opts.session();
    if (!report || !session) return;
    this.unsent = undefined;
    session.peer.request('reportStatus', report).catch((err: unknown) => this.opts.log.warn({ err: errorText(err), runId: report.run.runId }, 'status report not delivered'));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.healthTimer);
  }

  private send(reason: StatusReport['reason'], result: RunResult): void {
    const counts = this.opts.taskCounts?.() ?? {};
    const status = this.opts.status?.() ?? buildStatus({ result, health: new Map(), busy: false, waiting: new Set() });
    const key = statusKey(status);
    if (reason === 'health' && key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    this.lastReportAt = Date.now();
    this.unsent = statusReport(reason, result, status, counts, this.opts.backups?.());
    this.flush();
  }
}
