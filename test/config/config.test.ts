import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../ts/config/config.ts';
import { hasEnvOverlay } from '../../ts/config/env.ts';
import { CoreflowError } from '../../ts/errors.ts';

async function dirWith(env: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cf-config-'));
  await mkdir(join(dir, '.nogit'));
  await writeFile(join(dir, '.nogit', 'env.json'), JSON.stringify(env));
  return dir;
}

t.test('defaults, the .nogit overlay, and flags over both; the result is frozen', async (t) => {
  const dir = await dirWith({ COREFLOW_LOG_LEVEL: 'debug', COREFLOW_PORT: '4123' });
  const config = await loadConfig({ port: '0' }, dir);
  t.equal(config.logLevel, 'debug', 'from .nogit/env.json');
  t.equal(config.port, 0, 'the flag wins');
  t.equal(config.resyncCron, '0 0 * * * *', 'hourly by default');
  t.equal(config.stateDir, '/var/lib/coreflow');
  t.equal(config.confirmMassDeletion, false);
  t.ok(Object.isFrozen(config));
});

t.test('every invalid setting is named by its variable and flag', async (t) => {
  const dir = await dirWith({ COREFLOW_PORT: '99999', COREFLOW_LOG_LEVEL: 'loud', COREFLOW_CONFIRM_MASS_DELETION: 'maybe' });
  const err = await loadConfig({}, dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CoreflowError && err.code === 'COREFLOW_ERR_CONFIG_INVALID');
  const message = (err as Error).message;
  t.match(message, 'COREFLOW_PORT (--port): expected a port number');
  t.match(message, 'COREFLOW_LOG_LEVEL (--log-level)');
  t.match(message, 'COREFLOW_CONFIRM_MASS_DELETION (--confirm-mass-deletion): expected true or false');
});

t.test('qenv overlays are detected by cheap checks, so a process without one never loads qenv', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'cf-config-'));
  const secrets = await mkdtemp(join(tmpdir(), 'cf-secrets-'));
  t.equal(hasEnvOverlay(['COREFLOW_PORT'], empty, join(empty, 'no-such-dir')), false, 'nothing to read');
  t.equal(hasEnvOverlay(['COREFLOW_PORT'], await dirWith({}), secrets), true, '.nogit/env.json');
  await writeFile(join(secrets, 'other'), 'x');
  t.equal(hasEnvOverlay(['COREFLOW_PORT'], empty, secrets), false, 'an unrelated Docker secret');
  await writeFile(join(secrets, 'COREFLOW_PORT'), '4100');
  t.equal(hasEnvOverlay(['COREFLOW_PORT'], empty, secrets), true, 'a Docker secret named like a setting');
});
