import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { SseParser } from '../../ts/cli/controller-watch-command.ts';

/**
 * Child processes of `node bin/coreflow.js ...` for tests of the control-plane link: their JSON
 * log lines are collected so tests can wait for them (and read the bound port from them).
 */
export interface CoreflowProc {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  stdout: string[];
  /** Resolves with the first log line (past or future) matching `pred`. */
  waitForLog(what: string, pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `entry`: what node runs before `args` (default the coreflow command; tests may run a fixture script). */
export function startCoreflow(args: string[], env: Record<string, string> = {}, entry: string[] = ['bin/coreflow.js']): CoreflowProc {
  const proc = spawn(process.execPath, [...entry, ...args], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, COREFLOW_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stdout: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line, raw: true });
    }
    for (const w of waiters) w();
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    stdout.push(line);
    for (const w of waiters) w();
  });
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  return {
    proc,
    logs,
    stdout,
    waitForLog(what, pred, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = logs.find(pred);
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; last lines:\n${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** The port a process logged with `msg` (e.g. 'control plane listening'). */
export async function boundPort(p: CoreflowProc, msg: string): Promise<number> {
  const line = await p.waitForLog(msg, (l) => l.msg === msg && typeof l.port === 'number');
  return line.port as number;
}

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
}

export function httpJson(method: string, url: string, token: string | undefined, body?: unknown): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(url, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          parsed = { text };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Follows /v1/events; collects every event. */
export function followEvents(url: string, token: string): { events: { type: string; data: Record<string, unknown> }[]; close: () => void; opened: Promise<void> } {
  const events: { type: string; data: Record<string, unknown> }[] = [];
  let close = () => undefined as void;
  const opened = new Promise<void>((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      const parser = new SseParser((type, data) => events.push({ type, data }));
      res.setEncoding('utf8');
      res.on('data', (c: string) => parser.push(c));
      res.on('error', () => undefined);
      resolve();
    });
    req.on('error', reject);
    close = () => req.destroy();
    req.end();
  });
  return { events, close: () => close(), opened };
}
