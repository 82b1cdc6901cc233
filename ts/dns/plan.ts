import { CoreflowError } from '../errors.ts';
import type { Action } from '../reconcile/types.ts';
import type { DesiredProblem } from './desired.ts';
import { normalName } from '../spec/dns-names.ts';
import { describeValue, normalContent, ownerComment, ownershipOf, type DesiredRecord, type LiveRecord, type RecordBody } from './records.ts';

export const DNS_KIND = 'dns-record';

/** What the applier needs: where, and the record body to write (create/update) or the id (update/delete). */
export interface DnsPayload {
  zone: string;
  /** The live record to update or delete. */
  liveId?: string;
  /** The record to write, comment (ownership mark) included. */
  body?: RecordBody;
}

export interface DnsPlanInput {
  desired: readonly DesiredRecord[];
  live: readonly LiveRecord[];
  /** The cluster name: records marked with it are ours; all others are never changed. */
  owner: string;
  /** Hostnames that cannot be published, reported as failed actions. */
  problems?: readonly DesiredProblem[];
  /** Lets the plan delete all, or more than half, of the owned records. */
  allowMassDeletion?: boolean;
}

/** Types that hold a name's address: a foreign one of these makes the name someone else's. */
const ADDRESS_TYPES = new Set(['A', 'AAAA', 'CNAME']);

function recordLabel(r: { type: string; name: string }): string {
  return `${r.type} ${r.name}`;
}

function foreignLabel(r: LiveRecord, cluster: string): string {
  const o = ownershipOf(r, cluster);
  const by = !o.owned && o.by ? `owned by ${o.by}` : 'not made by coreflow';
  return `${r.type} ${r.name} -> ${r.content} (${by})`;
}

/** Foreign records at the desired record's name that it would clash with. */
function conflictsFor(d: DesiredRecord, foreignAtName: readonly LiveRecord[]): LiveRecord[] {
  if (d.type === 'CNAME') return [...foreignAtName];
  if (ADDRESS_TYPES.has(d.type)) return foreignAtName.filter((f) => ADDRESS_TYPES.has(f.type));
  // TXT and MX sets share a name with other records; only a CNAME excludes them.
  return foreignAtName.filter((f) => f.type === 'CNAME');
}

function sameValue(d: DesiredRecord, l: LiveRecord): boolean {
  return normalContent(l.type, l.content) === d.content;
}

/** Field differences other than content, as `field: old -> new`. */
function settingsDiff(d: DesiredRecord, l: LiveRecord): string[] {
  const diff: string[] = [];
  if (l.ttl !== d.ttl) diff.push(`ttl: ${l.ttl} -> ${d.ttl}`);
  if (d.proxied !== undefined && (l.proxied ?? false) !== d.proxied) diff.push(`proxied: ${l.proxied ?? false} -> ${d.proxied}`);
  if (d.priority !== undefined && l.priority !== d.priority) diff.push(`priority: ${l.priority ?? '(none)'} -> ${d.priority}`);
  return diff;
}

function bodyOf(d: DesiredRecord, owner: string): RecordBody {
  return {
    type: d.type,
    name: d.name,
    content: d.content,
    ttl: d.ttl,
    ...(d.proxied !== undefined ? { proxied: d.proxied } : {}),
    ...(d.priority !== undefined ? { priority: d.priority } : {}),
    comment: ownerComment(owner),
  };
}

/**
 * Pure. Converges the live records of the listed zones onto the desired ones, external-dns
 * style: only records marked with this owner are updated or deleted. A foreign record at a
 * desired name (same address family, or any CNAME) is a conflict: the desired record is
 * reported blocked and nothing at that name is touched. Records of one (name, type) are
 * matched by value first, then remaining pairs are updated in place (same record id), then
 * the rest created or deleted. Deleting all, or more than half, of the owned records for names
 * no longer published needs `allowMassDeletion` (an emptied route table must not wipe the zone).
 */
export function planDns(input: DnsPlanInput): Action<DnsPayload>[] {
  const { owner } = input;
  const actions: Action<DnsPayload>[] = [];
  for (const p of input.problems ?? []) {
    actions.push({
      kind: DNS_KIND,
      name: p.name,
      type: 'create',
      reason: 'cannot be published',
      blocked: { status: 'failed', reason: p.reason, code: 'COREFLOW_ERR_SPEC_INVALID' },
    });
  }
  const live = input.live.map((l) => ({ ...l, name: normalName(l.name) }));
  const own = live.filter((l) => ownershipOf(l, owner).owned);
  const foreign = live.filter((l) => !ownershipOf(l, owner).owned);
  const groups = new Map<string, DesiredRecord[]>();
  for (const d of input.desired) {
    const key = `${d.type} ${normalName(d.name)}`;
    groups.set(key, [...(groups.get(key) ?? []), { ...d, name: normalName(d.name) }]);
  }
  const touched = new Set<LiveRecord>();
  for (const [key, desired] of groups) {
    const first = desired[0]!;
    const base = (d: DesiredRecord) => ({ kind: DNS_KIND, name: recordLabel(d), payload: { zone: d.zone } });
    const ownHere = own.filter((l) => `${l.type} ${l.name}` === key);
    const conflicts = conflictsFor(first, foreign.filter((f) => f.name === first.name));
    if (conflicts.length > 0) {
      for (const l of ownHere) touched.add(l);
      const reason = new CoreflowError('COREFLOW_ERR_DNS_CONFLICT', {
        name: first.name,
        records: conflicts.map((c) => foreignLabel(c, owner)).join('; '),
      }).message;
      for (const d of desired) actions.push({ ...base(d), type: 'create', reason: `conflict: ${describeValue(d)}`, blocked: { status: 'blocked', reason, code: 'COREFLOW_ERR_DNS_CONFLICT' } });
      continue;
    }
    const pool = [...ownHere];
    const unmatched: DesiredRecord[] = [];
    for (const d of desired) {
      const i = pool.findIndex((l) => sameValue(d, l));
      if (i < 0) {
        unmatched.push(d);
        continue;
      }
      const l = pool.splice(i, 1)[0]!;
      touched.add(l);
      const diff = settingsDiff(d, l);
      if (diff.length === 0) actions.push({ ...base(d), type: 'skip', reason: `unchanged: ${describeValue(d)}` });
      else actions.push({ ...base(d), type: 'update', reason: 'settings changed', diff, payload: { ...base(d).payload, liveId: l.id, body: bodyOf(d, owner) } });
    }
    for (const d of unmatched) {
      const l = pool.shift();
      if (l) {
        touched.add(l);
        const diff = [`content: ${l.content} -> ${d.content}`, ...settingsDiff(d, l)];
        actions.push({ ...base(d), type: 'update', reason: 'target changed', diff, payload: { ...base(d).payload, liveId: l.id, body: bodyOf(d, owner) } });
        continue;
      }
      const same = foreign.find((f) => f.name === d.name && f.type === d.type && sameValue(d, f));
      if (same) {
        actions.push({ ...base(d), type: 'skip', reason: `exists, not made by coreflow; left as it is: ${describeValue(d)}` });
        continue;
      }
      actions.push({ ...base(d), type: 'create', reason: `not present: ${describeValue(d)}`, payload: { ...base(d).payload, body: bodyOf(d, owner) } });
    }
  }
  const gone = own.filter((l) => !touched.has(l));
  const deletes = new Map<LiveRecord, Action<DnsPayload>>(
    gone.map((l) => [l, { kind: DNS_KIND, name: recordLabel(l), type: 'delete', reason: `no longer desired: ${describeValue(l)}`, payload: { zone: l.zone, liveId: l.id } }]),
  );
  // The guard counts records of names that stop being published; replacing records at a name
  // that stays (a target switch, a surplus duplicate) is not a removal.
  const desiredNames = new Set(input.desired.map((d) => normalName(d.name)));
  const removals = gone.filter((l) => !desiredNames.has(l.name));
  if (!input.allowMassDeletion && removals.length > 0 && (removals.length === own.length || removals.length > own.length / 2)) {
    const reason = new CoreflowError('COREFLOW_ERR_MASS_DELETION', { count: removals.length, total: own.length, kind: 'DNS records' }).message;
    for (const l of removals) deletes.get(l)!.blocked = { status: 'blocked', reason, code: 'COREFLOW_ERR_MASS_DELETION' };
  }
  // A CNAME cannot share its name: when a name switches between CNAME and addresses, the old
  // records must go before the new ones are created. Other deletes come last (create, then delete).
  const creates = input.desired.filter((d) => actions.some((a) => a.type === 'create' && !a.blocked && a.name === recordLabel({ type: d.type, name: normalName(d.name) })));
  const mustGoFirst = (l: LiveRecord) => creates.some((d) => normalName(d.name) === l.name && (d.type === 'CNAME' || l.type === 'CNAME'));
  const first = gone.filter(mustGoFirst).map((l) => deletes.get(l)!);
  const last = gone.filter((l) => !mustGoFirst(l)).map((l) => deletes.get(l)!);
  return [...first, ...actions, ...last];
}
