import { stringify } from 'yaml';
import { exportSpec, LABEL_STACK_NAMESPACE, type ExportableService } from '../docker/export.ts';
import { listNetworks } from '../docker/networks.ts';
import { dockerRequest } from '../docker/request.ts';
import { CoreflowError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic-file.ts';
import type { Logger } from '../observe/logger.ts';
import { specLimits } from '../spec/limits.ts';
import { validateSpec } from '../spec/parse.ts';
import { CALL_TIMEOUT_MS, dockerFor } from './docker-for.ts';
import type { CliFlags } from './flags.ts';

/**
 * Which services `--stack NAME` or `--services a,b,KEY=VALUE` select: by the stack label, by
 * name, or by a label. Throws COREFLOW_ERR_STACK_NOT_FOUND when nothing matches, naming the
 * stacks that run, and COREFLOW_ERR_USAGE without a selection.
 */
export function selectServices(all: readonly ExportableService[], stack: string | undefined, services: string | undefined): ExportableService[] {
  if (!stack && !services) throw new CoreflowError('COREFLOW_ERR_USAGE', { details: 'export needs --stack NAME or --services NAME,...|KEY=VALUE' });
  const items = (services ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const names = new Set(items.filter((i) => !i.includes('=')));
  const labels = items.filter((i) => i.includes('=')).map((i) => [i.slice(0, i.indexOf('=')), i.slice(i.indexOf('=') + 1)] as const);
  const chosen = all.filter(
    (s) =>
      (stack !== undefined && s.Spec.Labels?.[LABEL_STACK_NAMESPACE] === stack) ||
      names.has(s.Spec.Name) ||
      labels.some(([k, v]) => s.Spec.Labels?.[k] === v),
  );
  const unknown = [...names].filter((n) => !all.some((s) => s.Spec.Name === n));
  if (chosen.length === 0 || unknown.length > 0) {
    const stacks = [...new Set(all.map((s) => s.Spec.Labels?.[LABEL_STACK_NAMESPACE]).filter((x): x is string => !!x))].sort();
    const what = unknown.length > 0 ? `service ${unknown.join(', ')}` : stack !== undefined && chosen.length === 0 ? `stack ${stack} (label ${LABEL_STACK_NAMESPACE})` : `--services ${services ?? ''}`;
    throw new CoreflowError('COREFLOW_ERR_STACK_NOT_FOUND', { what, known: stacks.length > 0 ? ` (stacks running: ${stacks.join(', ')})` : ' (no stack runs here)' });
  }
  return chosen;
}

/**
 * `coreflow export --stack NAME | --services LIST [--cluster NAME] [--out FILE]`: writes the spec
 * of services that run, validated against the spec schema, with a comment at the top listing what
 * the spec cannot express. Writes to stdout without --out.
 */
export async function exportCommand(flags: CliFlags, _log: Logger): Promise<number> {
  const stack = typeof flags.extra.stack === 'string' ? flags.extra.stack : undefined;
  const services = typeof flags.extra.services === 'string' ? flags.extra.services : undefined;
  const { config, docker: d } = await dockerFor(flags);
  const signal = AbortSignal.timeout(CALL_TIMEOUT_MS);
  const [all, networks] = await Promise.all([dockerRequest<ExportableService[]>(d, { method: 'GET', path: '/services', signal }), listNetworks(d, signal)]);
  const chosen = selectServices(all, stack, services);
  const cluster = typeof flags.extra.cluster === 'string' ? flags.extra.cluster : stack ?? 'adopted';
  const { doc, notes } = exportSpec(chosen, { cluster, networkNames: new Map(networks.map((n) => [n.id, n.name])) });
  validateSpec(doc, specLimits(config));
  const header = [
    `# coreflow spec exported from ${stack !== undefined ? `stack ${stack}` : `services ${services ?? ''}`} (${chosen.length} services).`,
    '# Secrets, volumes and networks are referenced by name (externalSecrets, volumes[].external,',
    '# networks): they exist already and coreflow never recreates or removes them.',
    ...(notes.length > 0 ? ['# Not expressible in the spec (kept by adopt, lost at the next change of the service):', ...notes.map((n) => `#   - ${n}`)] : ['# Everything the services set is expressed.']),
  ].join('\n');
  const text = `${header}\n${stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false })}`;
  const out = typeof flags.extra.out === 'string' ? flags.extra.out : undefined;
  if (out) await writeFileAtomic(out, text, 0o644);
  else process.stdout.write(text);
  return 0;
}
