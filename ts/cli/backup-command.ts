import { CoreflowError, errorText } from '../errors.ts';
import type { BackupOperation } from '../backup/backup-manager.ts';
import type { BackupManifest } from '../backup/manifest.ts';
import type { Logger } from '../observe/logger.ts';
import type { CliFlags } from './flags.ts';
import { agentBase, apiToken } from './agent-request.ts';

/** How long one progress request waits for the operation to end: the refresh of the progress bar. */
const WAIT_MS = 500;

/** An error answer of the agent, printed like the CLI's other errors: text and code. */
class AgentAnswer extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface Client {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
}

async function client(flags: CliFlags): Promise<Client> {
  const base = agentBase(flags);
  const token = await apiToken(flags);
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(new URL(path, base), {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        throw new CoreflowError('COREFLOW_ERR_AGENT_REQUEST', { operation: `${method} ${path}`, agent: base, details: errorText(err) });
      }
      const answer = (await res.json().catch(() => ({}))) as T & { error?: string; code?: string };
      if (!res.ok) throw new AgentAnswer(answer.error ?? `HTTP ${res.status}`, answer.code ?? 'COREFLOW_ERR_UNEXPECTED');
      return answer;
    },
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** One line of progress: a bar when the total is known, else the bytes so far. */
export function progressLine(op: Pick<BackupOperation, 'kind' | 'bytesDone' | 'bytesTotal'>, width = 30): string {
  if (!op.bytesTotal) return `${op.kind} ${mib(op.bytesDone)}`;
  const ratio = Math.min(1, op.bytesDone / op.bytesTotal);
  const filled = Math.round(ratio * width);
  return `${op.kind} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}% ${mib(op.bytesDone)} / ${mib(op.bytesTotal)}`;
}

/** Follows an operation to its end; a progress bar on stderr when it is a terminal. */
async function follow(api: Client, id: string): Promise<BackupOperation> {
  const tty = process.stderr.isTTY === true;
  for (;;) {
    const op = await api.call<BackupOperation>('GET', `/v1/backups/operations?id=${encodeURIComponent(id)}&wait=${WAIT_MS}`);
    if (tty) process.stderr.write(`\r${progressLine(op)}\u001b[K`);
    if (op.state !== 'running') {
      if (tty) process.stderr.write('\n');
      return op;
    }
  }
}

function printList(backups: BackupManifest[]): string {
  const rows = [['ID', 'SERVICE', 'REASON', 'CREATED', 'VOLUMES', 'SIZE']];
  for (const b of backups) rows.push([b.id, b.service, b.reason, b.createdAt, b.volumes.map((v) => v.volume).join(','), mib(b.volumes.reduce((n, v) => n + v.size, 0))]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

async function finish(flags: CliFlags, op: BackupOperation): Promise<number> {
  if (flags.json) process.stdout.write(`${JSON.stringify(op, null, 2)}\n`);
  else if (op.state === 'succeeded') process.stdout.write(`${op.kind} ${op.id} of ${op.service} done (${mib(op.bytesDone)})${op.kind === 'restore' ? ` from ${op.backupId}` : ''}\n`);
  if (op.state === 'succeeded') return 0;
  process.stderr.write(`coreflow backup: ${op.kind} ${op.id} failed: ${op.error ?? 'unknown error'} [${op.code ?? 'COREFLOW_ERR_UNEXPECTED'}]\n`);
  return 1;
}

/**
 * `coreflow backup create|list|restore|delete` against a running agent (--agent HOST:PORT; the
 * agent's COREFLOW_API_TOKEN from --token-file FILE, --api-token or that variable). create and restore follow the operation to
 * its end (a progress bar on a terminal); exit 0 done, 1 failed or refused.
 */
export async function backupCommand(action: 'create' | 'list' | 'restore' | 'delete', flags: CliFlags): Promise<number> {
  const api = await client(flags);
  const arg = flags.positionals[0];
  const volume = typeof flags.extra.volume === 'string' ? flags.extra.volume : undefined;
  const toVolume = typeof flags.extra['to-volume'] === 'string' ? flags.extra['to-volume'] : undefined;
  const need = (what: string) => {
    if (!arg) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: `coreflow backup ${action}: expected ${what}` });
    return arg;
  };
  try {
    switch (action) {
      case 'list': {
        const { backups } = await api.call<{ backups: BackupManifest[] }>('GET', `/v1/backups${arg ? `?service=${encodeURIComponent(arg)}` : ''}`);
        process.stdout.write(flags.json ? `${JSON.stringify(backups, null, 2)}\n` : `${printList(backups)}\n`);
        return 0;
      }
      case 'delete': {
        await api.call('DELETE', `/v1/backups?id=${encodeURIComponent(need('a backup id'))}`);
        process.stdout.write(`deleted ${arg}\n`);
        return 0;
      }
      case 'create': {
        const started = await api.call<{ backupId: string }>('POST', '/v1/backups', { service: need('a service name'), ...(volume ? { volume } : {}) });
        return finish(flags, await follow(api, started.backupId));
      }
      case 'restore': {
        const started = await api.call<{ restoreId: string }>('POST', '/v1/backups/restore', { backupId: need('a backup id'), ...(volume ? { volume } : {}), ...(toVolume ? { toVolume } : {}) });
        return finish(flags, await follow(api, started.restoreId));
      }
    }
  } catch (err) {
    if (!(err instanceof AgentAnswer)) throw err;
    process.stderr.write(`coreflow backup ${action}: ${err.message} [${err.code}]\n`);
    return 1;
  }
}

export const backupCreate = (flags: CliFlags, _log: Logger) => backupCommand('create', flags);
export const backupList = (flags: CliFlags, _log: Logger) => backupCommand('list', flags);
export const backupRestore = (flags: CliFlags, _log: Logger) => backupCommand('restore', flags);
export const backupDelete = (flags: CliFlags, _log: Logger) => backupCommand('delete', flags);
