import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import type { z } from 'zod';
import { CoreflowError, errorCode, errorText, isCoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { issueLines } from '../spec/parse.ts';
import { CLOSE_CODES, DEFAULT_TIMEOUT_MS, envelopeSchema, MAX_FRAME_BYTES, type Envelope } from './envelope.ts';

/** A method as a peer knows it: payload schemas both ways and its default timeout. */
export interface MethodSpec {
  request: z.ZodType;
  response: z.ZodType;
  timeoutMs?: number;
}
export type MethodTable = Record<string, MethodSpec>;

type Req<T extends MethodTable, M extends keyof T> = z.output<T[M]['request']>;
type ReqIn<T extends MethodTable, M extends keyof T> = z.input<T[M]['request']>;
type Res<T extends MethodTable, M extends keyof T> = z.output<T[M]['response']>;
type ResIn<T extends MethodTable, M extends keyof T> = z.input<T[M]['response']>;

export type MethodHandler<T extends MethodTable, M extends keyof T> = (request: Req<T, M>) => Promise<ResIn<T, M>> | ResIn<T, M>;

export interface PeerOptions<T extends MethodTable> {
  /** Methods this peer may call or serve; anything else is an unknown method. */
  methods: T;
  log: Logger;
  /** Interval of keepalive pings; 0 disables them. A peer silent for two intervals is terminated. */
  pingIntervalMs?: number;
  maxFrameBytes?: number;
  /** Called before a handler; throw (e.g. COREFLOW_ERR_UNAUTHENTICATED) to refuse the call. */
  guard?: (method: string) => void;
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/** Rejected frames tolerated per minute before the connection is closed with 1008. */
const MAX_BAD_FRAMES_PER_MINUTE = 20;

/**
 * One end of a protocol connection over a `ws` WebSocket, the same class on both sides: it calls
 * the other side with `request()` and answers the other side's calls with registered handlers.
 * Every incoming frame is validated; a bad one is answered with an error and never throws out of
 * the socket's event handlers. Oversized frames are refused by `ws` itself (maxPayload, which the
 * creator of the socket sets to MAX_FRAME_BYTES) with close code 1009.
 */
export class Peer<T extends MethodTable> {
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<string, (request: unknown) => Promise<unknown> | unknown>();
  private readonly closeListeners = new Set<(code: number, reason: string) => void>();
  private pingTimer: NodeJS.Timeout | undefined;
  private alive = true;
  private badFrames: number[] = [];
  private isClosed = false;
  private readonly maxFrameBytes: number;

  constructor(
    readonly socket: WebSocket,
    private readonly opts: PeerOptions<T>,
  ) {
    this.maxFrameBytes = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
    socket.on('message', (data, isBinary) => {
      this.alive = true;
      try {
        this.onFrame(data, isBinary);
      } catch (err) {
        opts.log.error({ err: errorText(err) }, 'frame handling failed');
      }
    });
    socket.on('pong', () => void (this.alive = true));
    socket.on('error', (err) => opts.log.warn({ err: errorText(err) }, 'websocket error'));
    socket.on('close', (code, reason) => this.closedWith(code, reason.toString('utf8')));
    const interval = opts.pingIntervalMs ?? 0;
    if (interval > 0) {
      this.pingTimer = setInterval(() => {
        if (!this.alive) {
          opts.log.warn({ silentForMs: 2 * interval }, 'no pong from the peer; terminating the dead connection');
          socket.terminate();
          return;
        }
        this.alive = false;
        try {
          socket.ping();
        } catch {
          // closing; the close event cleans up
        }
      }, interval);
      this.pingTimer.unref();
    }
    if (socket.readyState === socket.CLOSED) this.closedWith(1006, 'closed before the peer was created');
  }

  get closed(): boolean {
    return this.isClosed;
  }

  handle<M extends keyof T & string>(method: M, handler: MethodHandler<T, M>): this {
    this.handlers.set(method, handler as (request: unknown) => unknown);
    return this;
  }

  onClosed(listener: (code: number, reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Calls `method` on the other side; resolves with its validated response. */
  request<M extends keyof T & string>(method: M, payload: ReqIn<T, M>, timeoutMs?: number): Promise<Res<T, M>> {
    const spec = this.opts.methods[method];
    if (!spec) return Promise.reject(new CoreflowError('COREFLOW_ERR_UNKNOWN_METHOD', { method }));
    if (this.isClosed) return Promise.reject(new CoreflowError('COREFLOW_ERR_PEER_CLOSED', { method }));
    const checked = spec.request.safeParse(payload, { reportInput: true });
    if (!checked.success) return Promise.reject(payloadError(method, 'request', checked.error));
    const id = randomUUID();
    const wait = timeoutMs ?? spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<Res<T, M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CoreflowError('COREFLOW_ERR_REQUEST_TIMEOUT', { method, timeoutMs: wait }));
      }, wait);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.send({ method, request: checked.data, correlation: { id, phase: 'request' } });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  close(code: number = CLOSE_CODES.shutdown, reason = ''): void {
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) this.socket.close(code, reason);
  }

  /** Sends one envelope; throws COREFLOW_ERR_PROTOCOL_FRAME when it would exceed the frame limit. */
  private send(envelope: Envelope): void {
    const text = JSON.stringify(envelope);
    const size = Buffer.byteLength(text);
    if (size > this.maxFrameBytes) {
      throw new CoreflowError('COREFLOW_ERR_PROTOCOL_FRAME', { details: `${envelope.method} frame of ${size} bytes exceeds the limit of ${this.maxFrameBytes} bytes` });
    }
    if (this.socket.readyState !== this.socket.OPEN) throw new CoreflowError('COREFLOW_ERR_PEER_CLOSED', { method: envelope.method });
    this.socket.send(text);
  }

  /**
   * Answers a request exactly once. A response never echoes the request (`request: null`): a
   * request may hold a secret (getIdentityByToken's token), and the caller matches answers by
   * correlation id anyway. When the answer cannot be sent as built (too big for a frame, not
   * serialisable), the failure is logged and the caller gets an error reply instead, so no request
   * is left waiting for its timeout.
   */
  private reply(request: Envelope, result: { response?: unknown; error?: unknown }): void {
    const base = { method: request.method, request: null, correlation: { id: request.correlation.id, phase: 'response' as const } };
    const errorEnvelope = (err: unknown): Envelope => ({ ...base, error: { text: errorText(err), data: { code: errorCode(err) } } });
    try {
      this.send('error' in result ? errorEnvelope(result.error) : { ...base, response: result.response });
      return;
    } catch (err) {
      if (isCoreflowError(err, 'COREFLOW_ERR_PEER_CLOSED')) return;
      const cause = isCoreflowError(err) ? err : new CoreflowError('COREFLOW_ERR_PROTOCOL_FRAME', { details: `the answer to ${request.method} could not be built: ${errorText(err)}` });
      this.opts.log.error({ method: request.method, id: request.correlation.id, err: errorText(cause) }, 'could not send the answer; answering with an error');
      try {
        this.send(errorEnvelope(cause));
      } catch {
        // closed meanwhile
      }
    }
  }

  private rejectFrame(details: string, request?: Envelope): void {
    const now = Date.now();
    this.badFrames = this.badFrames.filter((t) => now - t < 60_000);
    this.badFrames.push(now);
    this.opts.log.warn({ details }, 'rejected a protocol frame');
    const error = new CoreflowError('COREFLOW_ERR_PROTOCOL_FRAME', { details });
    if (request) this.reply(request, { error });
    else {
      try {
        this.send({ method: 'invalid', request: null, correlation: { id: 'invalid', phase: 'response' }, error: { text: error.message, data: { code: error.code } } });
      } catch {
        // closed meanwhile
      }
    }
    if (this.badFrames.length > MAX_BAD_FRAMES_PER_MINUTE) {
      this.opts.log.warn('too many rejected frames; closing the connection');
      this.close(CLOSE_CODES.policy, 'too many invalid frames');
    }
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.rejectFrame('binary frames are not accepted; send one JSON envelope per text frame');
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return this.rejectFrame(`not JSON: ${errorText(err)}`);
    }
    const parsed = envelopeSchema.safeParse(raw, { reportInput: true });
    if (!parsed.success) {
      const issues = issueLines(parsed.error.issues).join('; ');
      return this.rejectFrame(`not a protocol envelope: ${issues}`);
    }
    const env = parsed.data;
    if (env.correlation.phase === 'response') return this.onResponse(env);
    void this.onRequest(env);
  }

  private onResponse(env: Envelope): void {
    const pending = this.pending.get(env.correlation.id);
    if (!pending) {
      if (env.error) this.opts.log.warn({ method: env.method, error: env.error.text }, 'the peer reported an error');
      else this.opts.log.debug({ method: env.method, id: env.correlation.id }, 'dropped a response for no pending call');
      return;
    }
    this.pending.delete(env.correlation.id);
    clearTimeout(pending.timer);
    if (env.error) {
      const code = typeof env.error.data?.code === 'string' ? env.error.data.code : '';
      const params: Record<string, string | number> = { method: pending.method, details: env.error.text, remoteCode: code };
      if (env.retry) params.retryInMs = env.retry.waitForMs;
      pending.reject(new CoreflowError('COREFLOW_ERR_REMOTE', params));
      return;
    }
    const spec = this.opts.methods[pending.method]!;
    const checked = spec.response.safeParse(env.response, { reportInput: true });
    if (!checked.success) pending.reject(payloadError(pending.method, 'response', checked.error));
    else pending.resolve(checked.data);
  }

  /** Runs the handler of a request and answers it; whatever fails on the way becomes an error reply. */
  private async onRequest(env: Envelope): Promise<void> {
    try {
      const spec = this.opts.methods[env.method];
      const handler = this.handlers.get(env.method);
      if (!spec || !handler) throw new CoreflowError('COREFLOW_ERR_UNKNOWN_METHOD', { method: env.method });
      this.opts.guard?.(env.method);
      const checked = spec.request.safeParse(env.request, { reportInput: true });
      if (!checked.success) return this.rejectFrame(payloadError(env.method, 'request', checked.error).params.details as string, env);
      const response = await handler(checked.data);
      const out = spec.response.safeParse(response);
      if (!out.success) throw payloadError(env.method, 'response', out.error);
      this.reply(env, { response: out.data });
    } catch (error) {
      if (!isCoreflowError(error)) this.opts.log.error({ method: env.method, err: errorText(error) }, 'request handling failed');
      this.reply(env, { error });
    }
  }

  private closedWith(code: number, reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.pingTimer);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new CoreflowError('COREFLOW_ERR_PEER_CLOSED', { method: p.method }));
      this.pending.delete(id);
    }
    for (const l of this.closeListeners) l(code, reason);
  }
}

function payloadError(method: string, what: 'request' | 'response', error: z.ZodError): CoreflowError {
  const issues = issueLines(error.issues)
    .map((l) => `${what}${l.startsWith('(document)') ? l.slice('(document)'.length) : `.${l}`}`)
    .join('; ');
  return new CoreflowError('COREFLOW_ERR_PROTOCOL_FRAME', { details: `${method} ${issues}` });
}

/** The stable code of an error the peer answered with ('' when there is none). */
export function remoteCode(err: unknown): string {
  return isCoreflowError(err, 'COREFLOW_ERR_REMOTE') ? String(err.params.remoteCode ?? '') : '';
}
