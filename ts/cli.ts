import { errorText, isCoreflowError } from './errors.ts';
import { createLogger, type Logger } from './observe/logger.ts';
import { agentCommand } from './cli/agent-command.ts';
import { parseFlags, type CliFlags } from './cli/flags.ts';
import { applyCommand, planCommand } from './cli/once.ts';
import { controlplaneCommand, controlplaneFlags } from './cli/controlplane-command.ts';
import { controllerWatchCommand, controllerWatchFlags } from './cli/controller-watch-command.ts';

type Command = (flags: CliFlags, log: Logger) => Promise<number>;

interface CommandEntry {
  run: Command;
  summary: string;
  extra?: Record<string, { type: 'string' | 'boolean' }>;
}

/** Every command, by its words. */
export const commands: Record<string, CommandEntry> = {
  plan: { run: planCommand, summary: 'show what apply would change (exit 0: nothing, 2: changes, 1: error)' },
  apply: { run: applyCommand, summary: 'converge the swarm onto the spec once and print the result' },
  agent: { run: agentCommand, summary: 'run continuously (standalone mode with --spec; control-plane mode with CLOUDLY_URL + JUMPCODE)' },
  controlplane: { run: controlplaneCommand, summary: 'the reference control plane: --spec FILE --addr HOST:PORT --token-file FILE', extra: controlplaneFlags },
  'controller watch': { run: controllerWatchCommand, summary: 'follow a control plane\'s events: --controller HOST:PORT [--token-file FILE]', extra: controllerWatchFlags },
};

const USAGE = `usage: coreflow <command> [flags]

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(20)} ${c.summary}`)
  .join('\n')}

common flags: --spec FILE, --docker-host URL, --state-dir DIR, --log-level LEVEL, --json, --verbose,
              --confirm-mass-deletion. See readme.md for every setting and its environment variable.
`;

export async function main(argv: string[]): Promise<number> {
  const two = `${argv[0] ?? ''} ${argv[1] ?? ''}`;
  const name = commands[two] ? two : argv[0] ?? '';
  const entry = commands[name];
  if (!entry || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return entry || name === '' || name === 'help' || argv.includes('--help') ? 0 : 1;
  }
  let log: Logger = createLogger();
  try {
    const flags = parseFlags(argv.slice(name.split(' ').length), entry.extra);
    const level = typeof flags.settings.logLevel === 'string' ? flags.settings.logLevel : process.env.COREFLOW_LOG_LEVEL;
    if (level) log = createLogger({ level });
    return await entry.run(flags, log);
  } catch (err) {
    const code = isCoreflowError(err) ? err.code : 'COREFLOW_ERR_UNEXPECTED';
    process.stderr.write(`coreflow ${name}: ${errorText(err)} [${code}]\n`);
    if (!isCoreflowError(err)) log.error({ err }, 'unexpected error');
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
