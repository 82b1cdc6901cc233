/**
 * What coreflow owns now, as `kind/name` (`service/web`, `network/x-gw`), from the last applied
 * run: drift wakes the chain only for these, and garbage never counts them as garbage.
 */
export class OwnedObjects {
  private names: ReadonlySet<string> = new Set();

  get current(): ReadonlySet<string> {
    return this.names;
  }

  /** Takes the objects a run left in place; a dry run changes nothing. */
  afterRun(result: { dryRun: boolean; steps: Parameters<typeof ownedNames>[0] }): void {
    if (!result.dryRun) this.names = ownedNames(result.steps);
  }
}

/** `kind/name` of every object the run left in place (not deleted), for the drift watcher. */
export function ownedNames(steps: readonly { actions: readonly { kind: string; name: string; type: string; status: string }[] }[]): Set<string> {
  const out = new Set<string>();
  for (const s of steps) {
    for (const a of s.actions) {
      if (a.type === 'delete' && a.status === 'succeeded') continue;
      if (a.status === 'failed' && a.type === 'skip') continue;
      out.add(`${a.kind === 'base-service' ? 'service' : a.kind}/${a.name}`);
    }
  }
  return out;
}
