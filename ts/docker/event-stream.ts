import type Docker from 'dockerode';
import { exponentialMs } from '../backoff.ts';
import { errorLogFields, errorText } from '../errors.ts';
import { callGuarded } from '../guarded.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../observe/logger.ts';

/** One message of the Engine's /events stream (the fields coreflow reads). */
export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: string;
  time?: number;
  timeNano?: number;
}

interface EventStreamOptions {
  /** Engine filters, e.g. { type: ['service', 'container'] }. */
  filters?: Record<string, string[]>;
  log: Logger;
  /** Aborts the open request too (a stream still waiting for the engine's answer). */
  signal?: AbortSignal;
  /** First reconnect delay; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Follows the Engine's event stream and calls `onEvent` for each event. The stream is reopened
 * after an error or end with exponential backoff (reset after a healthy connection), and
 * `onReconnect` is called each time it opens again, since events may have been missed: callers
 * resync then. Stop with the returned function.
 */
function watchDockerEvents(
  docker: Docker,
  onEvent: (e: DockerEvent) => void,
  opts: EventStreamOptions,
  onReconnect?: () => void,
): () => void {
  let stopped = false;
  let stream: NodeJS.ReadableStream | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** Resets the backoff once a stream has stayed open a while; cleared on stop so it never holds the process. */
  let healthy: NodeJS.Timeout | undefined;
  let failures = 0;
  let opened = 0;

  const retry = (why: string) => {
    if (stopped) return;
    stream = undefined;
    const delay = exponentialMs(failures++, opts.backoffMs ?? 500, opts.maxBackoffMs ?? 30_000);
    opts.log.warn({ why, retryInMs: delay }, 'Docker event stream closed; reopening');
    timer = setTimeout(open, delay);
  };

  const open = () => {
    if (stopped) return;
    docker.getEvents({ filters: opts.filters ?? {}, ...(opts.signal ? { abortSignal: opts.signal } : {}) }, (err, s) => {
      if (stopped) {
        (s as unknown as { destroy?: () => void } | undefined)?.destroy?.();
        return;
      }
      if (err || !s) return retry(errorText(err ?? 'no stream'));
      stream = s;
      if (opened++ > 0) onReconnect?.();
      healthy = setTimeout(() => (failures = 0), 5000);
      let buffer = '';
      s.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          try {
            onEvent(JSON.parse(line) as DockerEvent);
          } catch (e) {
            opts.log.warn({ err: errorText(e) }, 'unreadable Docker event skipped');
          }
        }
      });
      const close = (why: string) => {
        clearTimeout(healthy);
        s.removeAllListeners();
        retry(why);
      };
      s.on('error', (e: Error) => close(errorText(e)));
      s.on('end', () => close('stream ended'));
    });
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(healthy);
    (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  };
}

/** Hears the shared event stream: every event, and each reopening (events may have been missed). */
export interface DockerEventListener {
  onEvent(e: DockerEvent): void;
  onReconnect?(): void;
}

/** Where parts subscribe to Docker events; returns the unsubscribe. */
export interface DockerEventSource {
  subscribe(listener: DockerEventListener): () => void;
}

/**
 * The one Docker event stream of the agent, shared by drift and routing: one connection to
 * /events for the object types they watch, fanned out to every subscriber. A subscriber that
 * throws is logged and skipped for that event.
 */
export class DockerEventStream implements Lifecycle, DockerEventSource {
  readonly name = 'docker-events';
  private readonly listeners = new Set<DockerEventListener>();
  private stopWatch: (() => void) | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly docker: Docker,
    private readonly opts: { types: readonly string[]; log: Logger },
  ) {}

  subscribe(listener: DockerEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    const each = (call: (l: DockerEventListener) => void) => {
      for (const l of this.listeners) callGuarded(() => call(l), (err) => this.opts.log.warn(errorLogFields(err), 'Docker event listener failed'));
    };
    this.stopWatch = watchDockerEvents(
      this.docker,
      (e) => each((l) => l.onEvent(e)),
      { filters: { type: [...this.opts.types] }, log: this.opts.log, signal: this.stopping.signal },
      () => each((l) => l.onReconnect?.()),
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.stopWatch?.();
    this.stopWatch = undefined;
  }
}
