import { Worker } from 'node:worker_threads';
import { CoreflowError, errorText, rebuildError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { SerialQueue } from '../serial-queue.ts';
import { DEFAULT_SPEC_LIMITS, limitError, type SpecLimits } from './limits.ts';
import { loadSpecFile, validateSpec, type LoadedSpec } from './parse.ts';
import type { ParseReply, ParseRequest } from './parse-worker.ts';

/** How a source turns its input into a validated spec. Rejections are CoreflowErrors. */
export interface SpecReader {
  loadFile(path: string): Promise<LoadedSpec>;
  validate(doc: unknown): Promise<LoadedSpec>;
}

/** Parses on the calling thread: for one-shot commands (plan, apply) and tests. */
export function inlineSpecReader(limits: SpecLimits = DEFAULT_SPEC_LIMITS): SpecReader {
  return { loadFile: (path) => loadSpecFile(path, limits), validate: async (doc) => validateSpec(doc, limits) };
}

export interface OffThreadParserOptions {
  limits: SpecLimits;
  /**
   * A parse still running after this long is stopped (the worker is terminated) and rejected. The
   * time counts from when the worker is ready; starting one has its own bound (WORKER_START_MS).
   */
  timeoutMs: number;
  log: Logger;
  /** Heap bound of the worker (MB); over it the worker stops and the document is rejected. Default: Node's. */
  maxHeapMb?: number;
  /** A worker idle this long is stopped (default IDLE_MS). */
  idleMs?: number;
}

/**
 * A worker with nothing to parse for this long (1 s) is stopped: its isolate holds about 20 MB, and
 * an agent parses rarely (a changed file, a push). The next document starts a new one (about 0.15 s
 * on the worker's own thread); a burst of documents shares one.
 */
const IDLE_MS = 1_000;

/** A worker not ready after this long (or timeoutMs, when longer) is stopped and the document rejected. */
const WORKER_START_MS = 30_000;

/** The worker's module next to this one: .ts under tsx, .js once compiled. */
function startWorker(maxHeapMb: number | undefined): Worker {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const entry = new URL(`./parse-worker.${ext}`, import.meta.url);
  const options = maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } } : {};
  if (ext === 'js') return new Worker(entry, options);
  // Under tsx the worker needs the TypeScript loader registered before its entry is imported.
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${api}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { ...options, eval: true });
}

interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker's module is loaded (its first message). */
  ready: Promise<unknown>;
}

/**
 * Reads, parses and validates spec documents in one worker thread, so the event loop (health
 * checks, the control-plane link, edge proxies) stays responsive whatever the document. One worker
 * is kept and reused (starting one costs more than a small parse); requests run one at a time in
 * arrival order. A parse over the deadline terminates the worker and is rejected with
 * COREFLOW_ERR_SPEC_LIMIT; a worker that fails (out of memory, a crash) rejects the document in
 * progress with COREFLOW_ERR_SPEC_PARSE. Either way the next request starts a new worker: a worker
 * never takes the agent down.
 */
export class OffThreadParser implements SpecReader {
  private worker: RunningWorker | undefined;
  private readonly queue = new SerialQueue();
  private nextId = 0;
  private pending = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Workers started so far: one, unless one failed, ran over a deadline or was closed. */
  workersStarted = 0;

  constructor(private readonly opts: OffThreadParserOptions) {}

  loadFile(path: string): Promise<LoadedSpec> {
    return this.enqueue({ file: path }, `spec file ${path}`);
  }

  validate(doc: unknown): Promise<LoadedSpec> {
    return this.enqueue({ doc }, 'the document');
  }

  /** Whether a worker runs now. */
  get alive(): boolean {
    return this.worker !== undefined;
  }

  /** Starts the worker ahead of the first document (optional: a request starts one when needed). */
  start(): void {
    try {
      this.current();
    } catch (err) {
      this.opts.log.warn({ err: errorText(err) }, 'cannot start the spec parser worker; the first document tries again');
    }
  }

  /** Stops the worker; a later request starts a new one. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const running = this.worker;
    this.worker = undefined;
    await running?.worker.terminate();
  }

  private enqueue(body: { file: string } | { doc: unknown }, what: string): Promise<LoadedSpec> {
    clearTimeout(this.idleTimer);
    this.pending++;
    const next = this.queue.run(() => this.send(body, what));
    void next.catch(() => undefined).finally(() => {
      if (--this.pending === 0) this.idleTimer = setTimeout(() => void this.close(), this.opts.idleMs ?? IDLE_MS).unref();
    });
    return next;
  }

  private current(): RunningWorker {
    if (this.worker) return this.worker;
    const worker = startWorker(this.opts.maxHeapMb);
    this.workersStarted += 1;
    worker.unref();
    // Always listened to: an 'error' without a listener would be thrown in the agent.
    worker.on('error', (err) => this.opts.log.warn({ err: errorText(err) }, 'the spec parser worker failed; the next document starts a new one'));
    worker.on('exit', () => {
      if (this.worker?.worker === worker) this.worker = undefined;
    });
    this.worker = { worker, ready: new Promise((resolve) => worker.once('message', resolve)) };
    return this.worker;
  }

  private send(body: { file: string } | { doc: unknown }, what: string): Promise<LoadedSpec> {
    const { limits, timeoutMs } = this.opts;
    return new Promise<LoadedSpec>((resolve, reject) => {
      const failed = (details: string) => new CoreflowError('COREFLOW_ERR_SPEC_PARSE', { source: what, details });
      let running: RunningWorker;
      try {
        running = this.current();
      } catch (err) {
        reject(failed(`cannot start the parser: ${errorText(err)}`));
        return;
      }
      const { worker } = running;
      const id = ++this.nextId;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (settle: () => void) => {
        settled = true;
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        settle();
      };
      let head: { loaded: LoadedSpec; services: number } | undefined;
      const onMessage = (reply: ParseReply) => {
        if (reply.id !== id) return;
        if ('error' in reply) {
          finish(() => reject(reply.error.code ? rebuildError(reply.error.code, reply.error.params, reply.error.message) : failed(reply.error.message)));
          return;
        }
        if ('loaded' in reply) head = reply;
        else head?.loaded.spec.services.push(...reply.services);
        if (!head) return;
        // Services come in batches, each asked for when the previous one is in: one short copy at a time.
        if (head.loaded.spec.services.length >= head.services) finish(() => resolve(head!.loaded));
        else if (!('loaded' in reply) && reply.services.length === 0) finish(() => reject(failed('the parser lost the services of the document')));
        else worker.postMessage({ id, more: true });
      };
      const onError = (err: Error) => finish(() => reject(failed(`the parser stopped: ${errorText(err)}`)));
      const onExit = (code: number) => finish(() => reject(failed(`the parser exited (code ${code})`)));
      const overDeadline = () => {
        if (this.worker?.worker === worker) this.worker = undefined;
        void worker.terminate();
        this.opts.log.warn({ source: what, timeoutMs }, 'spec parse over its deadline: parser worker stopped');
        finish(() => reject(limitError('specParseTimeoutMs', what, 'the parse time', `more than ${timeoutMs} ms`, `${timeoutMs} ms`)));
      };
      timer = setTimeout(overDeadline, Math.max(timeoutMs, WORKER_START_MS));
      void running.ready.then(() => {
        if (settled) return;
        clearTimeout(timer);
        timer = setTimeout(overDeadline, timeoutMs);
      });
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      try {
        worker.postMessage({ id, limits, ...body } satisfies ParseRequest);
      } catch (err) {
        finish(() => reject(failed(`cannot pass the document to the parser: ${errorText(err)}`)));
      }
    });
  }
}
