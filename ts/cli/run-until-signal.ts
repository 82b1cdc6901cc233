import { errorText } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';

/** Something a long-running command starts and stops (the agent, the control plane). */
export interface Runnable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `part` and resolves with the exit code once SIGTERM or SIGINT stopped it: 0 after a
 * clean stop, 1 when stopping failed (logged). A second signal while stopping is ignored. A
 * failing start rejects (the CLI reports it).
 */
export async function runUntilSignal(part: Runnable, log: Logger): Promise<number> {
  let stopping: Promise<void> | undefined;
  const done = new Promise<number>((resolveExit) => {
    const stop = (signal: string) => {
      if (stopping) return;
      log.info({ signal }, 'stopping');
      stopping = part.stop().then(
        () => resolveExit(0),
        (err: unknown) => {
          log.error({ err: errorText(err) }, 'stop failed');
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await part.start();
  return done;
}
