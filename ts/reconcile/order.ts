import { CoreflowError } from '../errors.ts';

/**
 * Dependency order of the chain's steps (Kahn's algorithm; ties keep the order given).
 * Throws on an unknown dependency or a cycle: both are programming errors.
 */
export function orderSteps<T extends { kind: string; dependsOn: readonly string[] }>(steps: readonly T[]): T[] {
  const byKind = new Map(steps.map((s) => [s.kind, s]));
  for (const s of steps) {
    for (const d of s.dependsOn) if (!byKind.has(d)) throw new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: `step ${s.kind} depends on unknown step ${d}` });
  }
  const done = new Set<string>();
  const out: T[] = [];
  while (out.length < steps.length) {
    const next = steps.find((s) => !done.has(s.kind) && s.dependsOn.every((d) => done.has(d)));
    if (!next) throw new CoreflowError('COREFLOW_ERR_UNEXPECTED', { details: `dependency cycle among steps: ${steps.filter((s) => !done.has(s.kind)).map((s) => s.kind).join(', ')}` });
    done.add(next.kind);
    out.push(next);
  }
  return out;
}

/** Every step that depends on `kind`, directly or not. */
export function dependentsOf(steps: readonly { kind: string; dependsOn: readonly string[] }[], kind: string): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of steps) {
      if (!out.has(s.kind) && s.dependsOn.some((d) => d === kind || out.has(d))) {
        out.add(s.kind);
        grew = true;
      }
    }
  }
  return out;
}
