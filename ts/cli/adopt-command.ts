import { adoptService, planAdoption } from '../docker/adopt.ts';
import { buildDockerModel } from '../docker/desired-model.ts';
import { listLiveServices } from '../docker/services.ts';
import { listNetworks } from '../docker/networks.ts';
import { CoreflowError } from '../errors.ts';
import type { Logger } from '../observe/logger.ts';
import { specLimits } from '../spec/limits.ts';
import { loadSpecFile } from '../spec/parse.ts';
import { CALL_TIMEOUT_MS, dockerFor } from './docker-for.ts';
import type { CliFlags } from './flags.ts';

/**
 * `coreflow adopt --spec FILE`: labels the spec's workload services as owned by its cluster, in
 * place, when each runs exactly what the spec renders; refuses otherwise with nothing changed.
 */
export async function adoptCommand(flags: CliFlags, log: Logger): Promise<number> {
  const { config, docker: d } = await dockerFor(flags);
  if (!config.spec) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'missing --spec FILE (or COREFLOW_SPEC)' });
  const { spec } = await loadSpecFile(config.spec, specLimits(config));
  const signal = AbortSignal.timeout(CALL_TIMEOUT_MS);
  const live = await listLiveServices(d, () => listNetworks(d, signal), signal);
  const plan = planAdoption(buildDockerModel(spec).workloads.services, live, spec.cluster.name);
  const lines: string[] = [];
  for (const a of plan.adopt) {
    await adoptService(d, a, AbortSignal.timeout(CALL_TIMEOUT_MS));
    log.info({ service: a.live.name, id: a.live.id }, 'adopted');
    lines.push(`adopted service/${a.live.name} (${a.live.id})`);
  }
  for (const n of plan.alreadyOwned) lines.push(`service/${n}: already owned by cluster ${spec.cluster.name}`);
  const result = { cluster: spec.cluster.name, adopted: plan.adopt.map((a) => ({ name: a.live.name, id: a.live.id })), alreadyOwned: plan.alreadyOwned };
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${lines.join('\n')}\n`);
  return 0;
}
