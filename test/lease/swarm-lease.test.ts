import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { leaseName, SwarmLease } from '../../ts/lease/swarm-lease.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { cleanupCluster, connect, uniqueName, until, waitFor } from '../helpers/swarm.ts';

/**
 * The lease against the real swarm, each agent with its own manual clock: one holder, a standby
 * that takes over only after the lease time on its own clock (or at once after a release), the
 * old holder told it lost the lease, and swarmkit's version check deciding a race.
 */

const { docker } = await connect();
const LEASE_MS = 9_000;

function agentLease(cluster: string, holder: string, clock: ManualClock, lost: CoreflowError[] = []): SwarmLease {
  return new SwarmLease({ docker, cluster: () => cluster, holder, leaseMs: LEASE_MS, log: silentLogger(), clock, onLost: (e) => lost.push(e) });
}

async function holderLabel(cluster: string): Promise<string | undefined> {
  const list = await docker.listConfigs({ filters: { name: [leaseName(cluster)] } });
  return (list[0] as { Spec?: { Labels?: Record<string, string> } } | undefined)?.Spec?.Labels?.['coreflow.lease.holder'];
}

/** Lets the loop run one more tick: advance, then wait until it sleeps again. */
async function tick(clock: ManualClock, ms = LEASE_MS / 3): Promise<void> {
  await until('the lease loop sleeps', () => clock.sleepers > 0);
  clock.advance(ms);
  await until('the lease loop sleeps again', () => clock.sleepers > 0, 10_000);
}

t.test('one holder; a standby takes over only after the lease time on its own clock; the old holder learns it lost', async (t) => {
  const cluster = uniqueName('cflease');
  t.teardown(() => cleanupCluster(docker, cluster));
  const ca = new ManualClock();
  const cb = new ManualClock(5_000_000);
  const lostA: CoreflowError[] = [];
  const a = agentLease(cluster, 'agent-a', ca, lostA);
  const b = agentLease(cluster, 'agent-b', cb);
  t.teardown(async () => (await a.stop(), await b.stop()));
  await a.start();
  await a.acquired();
  t.ok(a.holding);
  t.equal(await holderLabel(cluster), 'agent-a', 'the lease config names the holder');
  await b.start();
  await until('b is standby', () => b.status().state === 'standby', 10_000);
  t.notOk(b.holding);
  t.match(b.describe(), new RegExp(`standby: lease ${leaseName(cluster)} held by agent-a`));

  // A renews; B's clock moves less than a lease time between renewals: B stays standby.
  for (let i = 0; i < 3; i++) {
    await tick(ca);
    await tick(cb, LEASE_MS / 2);
    t.equal(b.status().state, 'standby', `after renewal ${i + 1}`);
  }
  t.equal(await holderLabel(cluster), 'agent-a');

  // A stops renewing (its clock stands still): after a lease time on B's clock B takes over.
  await tick(cb, LEASE_MS / 3);
  await tick(cb, LEASE_MS / 3);
  t.equal(b.status().state, 'standby', 'two thirds of the lease time: still standby');
  await tick(cb, LEASE_MS / 3);
  await tick(cb, LEASE_MS / 3);
  await until('b holds', () => b.holding, 10_000);
  t.equal(await holderLabel(cluster), 'agent-b');
  t.same(b.status().holder, 'agent-b');

  // A's next look (its clock past its own deadline) finds B holding: A lost the lease.
  await until('a sleeps', () => ca.sleepers > 0);
  ca.advance(LEASE_MS);
  await until('a lost the lease', () => a.status().state === 'lost', 10_000);
  t.notOk(a.holding);
  t.equal(a.status().state, 'lost');
  t.equal(lostA.length, 1);
  t.equal(lostA[0]?.code, 'COREFLOW_ERR_LEASE_LOST');
});

t.test('a clean stop releases and the standby takes over at its next look; a renewal that finds another holder is lost at once', async (t) => {
  const cluster = uniqueName('cflease');
  t.teardown(() => cleanupCluster(docker, cluster));
  const [ca, cb] = [new ManualClock(), new ManualClock()];
  const lostB: CoreflowError[] = [];
  const a = agentLease(cluster, 'agent-a', ca);
  const b = agentLease(cluster, 'agent-b', cb, lostB);
  t.teardown(async () => (await a.stop(), await b.stop()));
  await a.start();
  await a.acquired();
  await b.start();
  await until('b is standby', () => b.status().state === 'standby', 10_000);
  await a.stop();
  t.equal(await holderLabel(cluster), '', 'released: no holder');
  await tick(cb);
  t.ok(b.holding, 'the standby took the released lease without waiting out the lease time');

  // Another writer takes the lease behind B's back: B's next renewal finds it and B is out at once.
  const [cfg] = (await docker.listConfigs({ filters: { name: [leaseName(cluster)] } })) as unknown as { ID: string; Version: { Index: number }; Spec: { Name: string; Labels: Record<string, string>; Data: string } }[];
  await docker.getConfig(cfg!.ID).update({ version: cfg!.Version.Index, _query: { version: cfg!.Version.Index }, _body: { ...cfg!.Spec, Labels: { ...cfg!.Spec.Labels, 'coreflow.lease.holder': 'intruder' } } });
  t.equal(await holderLabel(cluster), 'intruder');
  await until('b sleeps', () => cb.sleepers > 0);
  cb.advance(LEASE_MS / 3);
  await until('b lost the lease', () => b.status().state === 'lost', 10_000);
  t.equal(lostB.length, 1);
  t.match(lostB[0]?.message, /now held by intruder/);
});

t.test('two standbys racing for an expired lease: swarmkit lets exactly one write at that version', async (t) => {
  const cluster = uniqueName('cflease');
  t.teardown(() => cleanupCluster(docker, cluster));
  const [ca, cb, cc] = [new ManualClock(), new ManualClock(), new ManualClock()];
  const a = agentLease(cluster, 'agent-a', ca);
  await a.start();
  await a.acquired();
  const b = agentLease(cluster, 'agent-b', cb);
  const c = agentLease(cluster, 'agent-c', cc);
  t.teardown(async () => (await b.stop(), await c.stop()));
  await Promise.all([b.start(), c.start()]);
  await until('both standby', () => b.status().state === 'standby' && c.status().state === 'standby', 10_000);
  // A vanishes without releasing (a lost node): its loop ends, the lease is left as it was.
  (a as unknown as { abort: AbortController }).abort.abort();
  for (let i = 0; i < 3; i++) {
    await until('both sleep', () => cb.sleepers > 0 && cc.sleepers > 0);
    cb.advance(LEASE_MS / 3);
    cc.advance(LEASE_MS / 3);
    await until('both sleep again', () => cb.sleepers > 0 && cc.sleepers > 0, 10_000);
  }
  await waitFor('one holder', async () => b.holding || c.holding, 10_000, 20);
  t.equal([b.holding, c.holding].filter(Boolean).length, 1, 'exactly one holds');
  t.equal(await holderLabel(cluster), b.holding ? 'agent-b' : 'agent-c');
});
