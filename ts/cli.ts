import { commands, defaultLogLevel } from './cli/commands.ts';
import { parseFlags } from './cli/flags.ts';
import { readEnv } from './config/env.ts';
import { settings } from './config/settings.ts';
import { errorText, isCoreflowError } from './errors.ts';
import { createLogger, isLogLevel, type Logger } from './observe/logger.ts';

const USAGE = `usage: coreflow <command> [flags]

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(20)} ${c.summary}`)
  .join('\n')}

  --version            print the version of coreflow

common flags: --spec FILE, --docker-host URL, --state-dir DIR, --log-level LEVEL, --json, --verbose,
              --confirm-mass-deletion. See readme.md for every setting and its environment variable.
`;

/** The version in package.json, which sits one level above both ts/ and the built dist/. */
async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Runs one command; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version') {
    process.stdout.write(`coreflow ${await version()}\n`);
    return 0;
  }
  const two = `${argv[0] ?? ''} ${argv[1] ?? ''}`;
  const name = commands[two] ? two : argv[0] ?? '';
  const entry = commands[name];
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (!entry || wantsHelp) {
    process.stdout.write(USAGE);
    if (!entry && name !== '' && name !== 'help' && !wantsHelp) process.stderr.write(`coreflow: unknown command "${name}"\n`);
    return entry || name === '' || name === 'help' || wantsHelp ? 0 : 1;
  }
  let log: Logger | undefined;
  try {
    const flags = parseFlags(argv.slice(name.split(' ').length), entry.extra);
    // As the config reads it (flag, environment, then the overlay); a bad value is left to the
    // config's validation to name.
    const { env } = settings.logLevel;
    const level = flags.settings.logLevel ?? (await readEnv([env]))[env];
    log = createLogger({ level: isLogLevel(level) ? level : defaultLogLevel(entry) });
    const run = await entry.load();
    return await run(flags, log);
  } catch (err) {
    const code = isCoreflowError(err) ? err.code : 'COREFLOW_ERR_UNEXPECTED';
    process.stderr.write(`coreflow ${name}: ${errorText(err)} [${code}]\n`);
    if (!isCoreflowError(err)) (log ?? createLogger()).error({ err }, 'unexpected error');
    return 1;
  }
}

/**
 * The exit code is set, not forced: `process.exit` would drop whatever stdout and stderr still
 * hold when they are pipes read late (`| jq`, CI log collectors), so the process ends by itself
 * once the streams have drained and nothing else is open. Should a forgotten handle still keep it
 * alive once both streams have flushed, an unref'd backstop ends it after EXIT_BACKSTOP_MS and
 * says so on stderr; it never cuts output short, as it only starts after the flush.
 */
const EXIT_BACKSTOP_MS = 5000;

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => (stream.writableLength === 0 ? resolve() : stream.write('', () => resolve())));
}

process.exitCode = await main(process.argv.slice(2));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
setTimeout(() => {
  process.stderr.write(`coreflow: still running ${EXIT_BACKSTOP_MS} ms after the command finished (an open handle); exiting\n`);
  process.exit();
}, EXIT_BACKSTOP_MS).unref();
