import { constants } from 'node:os';
import { CoreflowError, errorLogFields, errorText } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';

export interface RunOptions {
  /** The stop deadline (COREFLOW_STOP_TIMEOUT_MS): a stop still going after this long exits at once. */
  stopTimeoutMs: number;
  /** How the process is ended when it cannot wait for a clean stop (tests replace it). */
  exit?: (code: number) => void;
}

/**
 * Starts `part` and resolves with the exit code once SIGTERM or SIGINT stopped it: 0 after a
 * clean stop, 1 when stopping failed (logged). A stop that has not finished within
 * `stopTimeoutMs` is abandoned: COREFLOW_ERR_STOP_TIMEOUT is logged and the process exits with 1 at
 * once; a second signal while stopping exits at once with 128 + the signal number. These are the
 * only forced exits: a clean stop leaves nothing open, so the process ends by itself. A signal
 * during start stops what has started (start is not waited for). A failing start rejects (the
 * CLI reports it).
 */
export async function runUntilSignal(part: Lifecycle, log: Logger, opts: RunOptions): Promise<number> {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  let finished!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finished = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal while stopping; exiting at once');
      exit(128 + constants.signals[signal]);
      return;
    }
    stopping = true;
    log.info({ signal, deadlineMs: opts.stopTimeoutMs }, 'stopping');
    const deadline = setTimeout(() => {
      const err = new CoreflowError('COREFLOW_ERR_STOP_TIMEOUT', { timeoutMs: opts.stopTimeoutMs });
      log.error(errorLogFields(err), 'stop deadline passed; exiting');
      exit(1);
    }, opts.stopTimeoutMs);
    part.stop().then(
      () => 0,
      (err: unknown) => {
        log.error(errorLogFields(err), 'stop failed');
        return 1;
      },
    ).then((code) => {
      clearTimeout(deadline);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      finished(code);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await Promise.race([part.start(), done]);
  } catch (err) {
    if (!stopping) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      throw err;
    }
    log.debug({ err: errorText(err) }, 'start ended by the stop');
  }
  return done;
}
