import { loadConfig } from '../config/config.ts';
import { connectDocker } from '../docker/client.ts';
import { ImageResolver } from '../docker/image-resolver.ts';
import { RegistryClient } from '../docker/registry-client.ts';
import type { Logger } from '../observe/logger.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { defaultSteps } from '../chain-steps.ts';
import { hasChanges } from '../reconcile/summarize.ts';
import type { RunResult } from '../reconcile/types.ts';
import { specLimits } from '../spec/limits.ts';
import { loadSpecFile } from '../spec/parse.ts';
import { formatResult } from './print-result.ts';
import type { CliFlags } from './flags.ts';
import { CoreflowError } from '../errors.ts';
import { dnsStepOptions } from '../dns/token.ts';
import { parseTarget, suspensionOf, targetScope } from '../object-controls.ts';
import { bindingsStepOptions } from '../storage/corestore-token.ts';

/** One run of the chain from a spec file: `plan` (dry run) or `apply`. */
export async function runOnce(flags: CliFlags, log: Logger, dryRun: boolean): Promise<RunResult> {
  const config = await loadConfig(flags.settings);
  if (!config.spec) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'missing --spec FILE (or COREFLOW_SPEC)' });
  const loaded = await loadSpecFile(config.spec, specLimits(config));
  // Targets are checked against the document before Docker is even connected: a bad one changes nothing.
  const given = flags.extra.target;
  const targets = Array.isArray(given) ? given : typeof given === 'string' ? [given] : [];
  const inScope = targets.length > 0 ? targetScope(loaded.spec, targets.map(parseTarget)) : undefined;
  const suspended = suspensionOf(loaded.spec);
  const { docker } = await connectDocker(config.dockerHost ? { host: config.dockerHost } : {});
  const reconciler = new Reconciler({
    steps: defaultSteps(docker, {
      dns: dnsStepOptions(config),
      bindings: bindingsStepOptions(config),
      images: new ImageResolver({ client: new RegistryClient({ timeoutMs: config.registryTimeoutMs }) }),
    }),
    desired: () => loaded,
    log,
    dryRun,
    confirmMassDeletion: config.confirmMassDeletion,
    runTimeoutMs: config.runTimeoutMs,
    controls: () => ({ ...(suspended ? { suspended } : {}), ...(inScope ? { inScope } : {}) }),
  });
  const result = await reconciler.trigger(dryRun ? 'plan' : 'apply');
  return result!;
}

/**
 * `coreflow plan`: exit 0 when nothing would change, 2 when something would, 1 when a step or an
 * object failed (terraform's detailed exit codes).
 */
export async function planCommand(flags: CliFlags, log: Logger): Promise<number> {
  const result = await runOnce(flags, log, true);
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatResult(result, { verbose: flags.verbose })}\n`);
  if (result.status === 'failed' || result.summary.failed > 0 || result.steps.some((s) => s.status === 'failed')) return 1;
  return hasChanges(result) ? 2 : 0;
}

/** `coreflow apply`: exit 0 when everything succeeded, 1 otherwise. */
export async function applyCommand(flags: CliFlags, log: Logger): Promise<number> {
  const result = await runOnce(flags, log, false);
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatResult(result, { verbose: flags.verbose })}\n`);
  return result.status === 'succeeded' ? 0 : 1;
}
