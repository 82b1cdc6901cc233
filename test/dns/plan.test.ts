import t from 'tap';
import { desiredDnsRecords } from '../../ts/dns/desired.ts';
import { routedHostsFromSpec } from '../../ts/spec/routed-hosts.ts';
import { planDns } from '../../ts/dns/plan.ts';
import { ownerComment, ownershipOf, type LiveRecord } from '../../ts/dns/records.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

/** The pure planner: desired records + live records + owner -> actions with reasons. */

const OWNER = 'prod';
let n = 0;
function live(r: Partial<LiveRecord> & { type: string; name: string; content: string }, owner: string | null = OWNER): LiveRecord {
  return { id: `r${++n}`, zone: 'example.com', zoneId: 'z1', ttl: 1, proxied: false, comment: owner === null ? null : ownerComment(owner), ...r };
}

function doc(dns: unknown, services: unknown[] = [{ name: 'web', image: 'x', ports: { web: 80 }, domains: [{ name: 'www.example.com' }, { name: 'api.example.com' }] }]) {
  return { apiVersion: 'coreflow/v1', cluster: { name: OWNER }, services, dns };
}

const DNS = { provider: 'cloudflare', zones: ['example.com'], targets: { ipv4: ['203.0.113.10'] } };

function plan(dns: unknown, liveRecords: LiveRecord[], services?: unknown[], allowMassDeletion = false) {
  const { spec } = validateSpec(doc(dns, services));
  const { records, problems } = desiredDnsRecords(spec.dns!, routedHostsFromSpec(spec));
  return planDns({ desired: records, live: liveRecords, owner: OWNER, problems, allowMassDeletion });
}

const brief = (actions: ReturnType<typeof plan>) => actions.map((a) => `${a.type} ${a.name}${a.blocked ? ` [${a.blocked.status}]` : ''}`);

t.test('ownership is read from the comment', async (t) => {
  t.same(ownershipOf({ comment: ownerComment('prod') }, 'prod'), { owned: true });
  t.same(ownershipOf({ comment: `${ownerComment('prod')} edited by hand` }, 'prod'), { owned: true });
  t.same(ownershipOf({ comment: ownerComment('staging') }, 'prod'), { owned: false, by: 'coreflow cluster staging' });
  t.same(ownershipOf({ comment: null }, 'prod'), { owned: false });
  t.same(ownershipOf({ comment: 'cluster=prod' }, 'prod'), { owned: false });
});

t.test('routed domains get records to the targets; explicit records as written', async (t) => {
  const actions = plan(
    { ...DNS, targets: { ipv4: ['203.0.113.10', '203.0.113.11'], ipv6: ['2001:DB8:0::10'] }, dns_records: [{ type: 'TXT', name: 'example.com', content: 'v=spf1 -all' }, { type: 'MX', name: 'example.com', content: 'mx.example.net', priority: 10 }] },
    [],
  );
  t.same(brief(actions), [
    'create A www.example.com',
    'create A www.example.com',
    'create AAAA www.example.com',
    'create A api.example.com',
    'create A api.example.com',
    'create AAAA api.example.com',
    'create TXT example.com',
    'create MX example.com',
  ]);
  t.match(actions[2]!.payload!.body, { type: 'AAAA', content: '2001:db8::10', comment: ownerComment(OWNER) }, 'IPv6 in canonical form, ownership comment');
  t.match(actions[7]!.payload!.body, { type: 'MX', priority: 10, content: 'mx.example.net' });
  t.match(actions[0]!.reason, /not present: 203\.0\.113\.10/);
});

t.test('unchanged records are skipped; a changed target updates the same record in place', async (t) => {
  const www = live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' });
  const api = live({ type: 'A', name: 'API.example.com', content: '203.0.113.9' });
  const actions = plan(DNS, [www, api]);
  t.same(brief(actions), ['skip A www.example.com', 'update A api.example.com']);
  t.equal(actions[1]!.reason, 'target changed');
  t.same(actions[1]!.diff, ['content: 203.0.113.9 -> 203.0.113.10']);
  t.equal(actions[1]!.payload!.liveId, api.id);
});

t.test('ttl and proxied changes are updates; proxied records always have ttl 1', async (t) => {
  const www = live({ type: 'A', name: 'www.example.com', content: '203.0.113.10', ttl: 300 });
  const api = live({ type: 'A', name: 'api.example.com', content: '203.0.113.10', ttl: 300 });
  const actions = plan({ ...DNS, proxied: true, ttl: 300 }, [www, api]);
  t.same(actions.map((a) => a.diff), [['ttl: 300 -> 1', 'proxied: false -> true'], ['ttl: 300 -> 1', 'proxied: false -> true']]);
});

t.test('records of a domain that goes are deleted; only our own', async (t) => {
  const records = [
    live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' }),
    live({ type: 'A', name: 'api.example.com', content: '203.0.113.10' }),
    live({ type: 'A', name: 'old.example.com', content: '203.0.113.10' }),
    live({ type: 'A', name: 'mail.example.com', content: '198.51.100.1' }, null),
    live({ type: 'A', name: 'other.example.com', content: '198.51.100.1' }, 'staging'),
  ];
  const actions = plan(DNS, records);
  t.same(brief(actions), ['skip A www.example.com', 'skip A api.example.com', 'delete A old.example.com']);
  t.equal(actions[2]!.payload!.liveId, records[2]!.id);
});

t.test('a foreign record with the same name is a conflict: reported, left alone', async (t) => {
  const foreign = live({ type: 'A', name: 'www.example.com', content: '198.51.100.7' }, null);
  const otherCluster = live({ type: 'CNAME', name: 'api.example.com', content: 'lb.example.net' }, 'staging');
  const actions = plan(DNS, [foreign, otherCluster]);
  t.same(brief(actions), ['create A www.example.com [blocked]', 'create A api.example.com [blocked]']);
  t.match(actions[0]!.blocked!.reason, /www\.example\.com has records coreflow did not make: A www\.example\.com -> 198\.51\.100\.7 \(not made by coreflow\)/);
  t.match(actions[1]!.blocked!.reason, /owned by coreflow cluster staging/);
  t.notOk(actions.some((a) => a.payload?.liveId), 'no action targets a foreign record');
});

t.test('foreign records of other types at the name do not clash with address records', async (t) => {
  const txt = live({ type: 'TXT', name: 'www.example.com', content: 'google-site-verification=abc' }, null);
  const actions = plan(DNS, [txt]);
  t.same(brief(actions), ['create A www.example.com', 'create A api.example.com']);
});

t.test('an identical foreign TXT is left as it is, not duplicated', async (t) => {
  const txt = live({ type: 'TXT', name: 'example.com', content: '"v=spf1 -all"' }, null);
  const actions = plan({ ...DNS, dns_records: [{ type: 'TXT', name: 'example.com', content: 'v=spf1 -all' }] }, [txt], []);
  t.same(brief(actions), ['skip TXT example.com']);
  t.match(actions[0]!.reason, /not made by coreflow/);
});

t.test('duplicates of our own records are removed', async (t) => {
  const a = live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' });
  const dup = live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' });
  const api = live({ type: 'A', name: 'api.example.com', content: '203.0.113.10' });
  const actions = plan(DNS, [a, dup, api]);
  t.same(brief(actions), ['skip A www.example.com', 'skip A api.example.com', 'delete A www.example.com']);
  t.equal(actions[2]!.payload!.liveId, dup.id);
});

t.test('removing all or most owned records needs confirmation', async (t) => {
  const records = [live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' }), live({ type: 'A', name: 'api.example.com', content: '203.0.113.10' })];
  const guarded = plan(DNS, records, []);
  t.same(brief(guarded), ['delete A www.example.com [blocked]', 'delete A api.example.com [blocked]']);
  t.match(guarded[0]!.blocked!.reason, /would remove 2 of 2 owned DNS records/);
  const confirmed = plan(DNS, records, [], true);
  t.same(brief(confirmed), ['delete A www.example.com', 'delete A api.example.com']);
});

t.test('a route-table hostname outside the zones fails alone; excluded names are not published', async (t) => {
  const { spec } = validateSpec(doc({ ...DNS, exclude: ['*.internal.example.com'] }));
  const { records, problems } = desiredDnsRecords(spec.dns!, [
    { name: 'www.example.com', source: 'route table' },
    { name: 'x.internal.example.com', source: 'route table' },
    { name: 'shop.example.org', source: 'route table' },
  ]);
  const actions = planDns({ desired: records, live: [], owner: OWNER, problems });
  t.same(brief(actions), ['create shop.example.org [failed]', 'create A www.example.com']);
  t.match(actions[0]!.blocked!.reason, /shop\.example\.org \(route table\) is not in any zone of dns\.zones \(example\.com\)/);
});

t.test('switching between addresses and a CNAME deletes the old records first', async (t) => {
  const records = [
    live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' }),
    live({ type: 'A', name: 'api.example.com', content: '203.0.113.10' }),
    live({ type: 'A', name: 'keep.example.com', content: '203.0.113.10' }),
  ];
  const actions = plan({ ...DNS, targets: { cname: 'lb.example.net' } }, records, [{ name: 'web', image: 'x', ports: { web: 80 }, domains: [{ name: 'www.example.com' }, { name: 'api.example.com' }] }], true);
  t.same(brief(actions), [
    'delete A www.example.com',
    'delete A api.example.com',
    'create CNAME www.example.com',
    'create CNAME api.example.com',
    'delete A keep.example.com',
  ]);
});

t.test('no dns-relevant change plans no writes', async (t) => {
  const records = [live({ type: 'A', name: 'www.example.com', content: '203.0.113.10' }), live({ type: 'A', name: 'api.example.com', content: '203.0.113.10' })];
  const actions = plan(DNS, records);
  t.ok(actions.every((a) => a.type === 'skip'));
});
