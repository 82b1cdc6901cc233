import type { Logger } from '../observe/logger.ts';
import type { CliFlags } from './flags.ts';

export type Command = (flags: CliFlags, log: Logger) => Promise<number>;

export interface CommandEntry {
  summary: string;
  /** Flags the command reads itself, beyond the settings. */
  extra?: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  /** Loaded on use, so `--help` and small commands start fast. */
  load: () => Promise<Command>;
  /**
   * A process that runs until stopped (agent, control plane): it logs at info by default. Other
   * commands print their result, so their default level is warn (a run's actions are in it).
   */
  daemon?: true;
}

/** The log level of a command without COREFLOW_LOG_LEVEL or --log-level. */
export function defaultLogLevel(entry: CommandEntry): 'info' | 'warn' {
  return entry.daemon ? 'info' : 'warn';
}

/** Every command, by its words ("controller watch" has two). */
export const commands: Record<string, CommandEntry> = {
  plan: {
    summary: 'show what apply would change (exit 0: nothing, 2: changes, 1: error); --target KIND/NAME (repeatable) plans only those objects',
    extra: { target: { type: 'string', multiple: true } },
    load: async () => (await import('./once.ts')).planCommand,
  },
  apply: {
    summary: 'converge the swarm onto the spec once and print the result; --target KIND/NAME (repeatable) applies only those objects and what they need',
    extra: { target: { type: 'string', multiple: true } },
    load: async () => (await import('./once.ts')).applyCommand,
  },
  agent: {
    summary: 'run continuously (standalone mode with --spec; control-plane mode with CLOUDLY_URL + JUMPCODE)',
    load: async () => (await import('./agent-command.ts')).agentCommand,
    daemon: true,
  },
  controlplane: {
    summary: 'the reference control plane: --spec FILE --addr HOST:PORT --token-file FILE',
    extra: { addr: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./controlplane-command.ts')).controlplaneCommand,
    daemon: true,
  },
  'controller watch': {
    summary: "follow a control plane's events: --controller HOST:PORT [--token-file FILE]",
    extra: { controller: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./controller-watch-command.ts')).controllerWatchCommand,
  },
  suspend: {
    summary: 'suspend a service on a running agent: not created, changed, healed or removed (SERVICE --agent HOST:PORT; token COREFLOW_API_TOKEN or --token-file)',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./operator-commands.ts')).suspendServiceCommand,
  },
  resume: {
    summary: 'resume a suspended service on a running agent (SERVICE --agent HOST:PORT; token as for suspend)',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./operator-commands.ts')).resumeServiceCommand,
  },
  approve: {
    summary: 'apply the plan waiting for approval on a running agent, exactly (PLAN_ID --agent HOST:PORT; token as for suspend)',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./operator-commands.ts')).approveCommand,
  },
  export: {
    summary: 'write the spec of services that run: --stack NAME | --services NAME,...|KEY=VALUE [--cluster NAME] [--out FILE]',
    extra: { stack: { type: 'string' }, services: { type: 'string' }, cluster: { type: 'string' }, out: { type: 'string' } },
    load: async () => (await import('./export-command.ts')).exportCommand,
  },
  adopt: {
    summary: 'take ownership in place of the running services of --spec FILE (no task restarts; refuses on any difference)',
    load: async () => (await import('./adopt-command.ts')).adoptCommand,
  },
  retry: {
    summary: 'retry one object now on a running agent: OBJECT (service/NAME or NAME) [--agent HOST:PORT]',
    extra: { agent: { type: 'string' } },
    load: async () => (await import('./retry-command.ts')).retryCommand,
  },
  redeploy: {
    summary: "check a service's image tag now and roll out a re-pushed one: SERVICE --agent HOST:PORT [--token-file FILE]",
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./redeploy-command.ts')).redeployCommand,
  },
  status: {
    summary: 'print the status table of a running agent (--agent HOST:PORT; exit 2: not synced/healthy)',
    extra: { agent: { type: 'string' } },
    load: async () => (await import('./status-command.ts')).statusCommand,
  },
  'backup create': {
    summary: 'back up a service\'s backup-enabled volumes on a running agent: SERVICE [--volume V] [--agent HOST:PORT]',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' }, volume: { type: 'string' } },
    load: async () => (await import('./backup-command.ts')).backupCreate,
  },
  'backup list': {
    summary: 'list the backups of a running agent: [SERVICE] [--agent HOST:PORT]',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./backup-command.ts')).backupList,
  },
  'backup restore': {
    summary: 'restore a backup: BACKUP_ID [--volume V] [--to-volume NEW] [--agent HOST:PORT]',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' }, volume: { type: 'string' }, 'to-volume': { type: 'string' } },
    load: async () => (await import('./backup-command.ts')).backupRestore,
  },
  'backup delete': {
    summary: 'delete a backup: BACKUP_ID [--agent HOST:PORT]',
    extra: { agent: { type: 'string' }, 'token-file': { type: 'string' } },
    load: async () => (await import('./backup-command.ts')).backupDelete,
  },
};
