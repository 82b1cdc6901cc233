import t from 'tap';
import { decideLease, observe, stillHeld, type LeaseRecord } from '../../ts/lease/lease-decision.ts';

const LEASE = 15_000;
const rec = (holder: string, version = 10): LeaseRecord => ({ id: 'cfg1', version, holder, leaseMs: LEASE });

t.test('no lease yet: create it; own lease: renew; released: take at once', async (t) => {
  t.same(decideLease(undefined, 'me', 0, undefined), { kind: 'create' });
  t.same(decideLease(rec('me'), 'me', 0, undefined), { kind: 'renew' });
  t.same(decideLease(rec(''), 'me', 0, undefined), { kind: 'take', reason: 'released' });
});

t.test('another holder: wait the whole lease time, on the reader\'s own clock, from the first sight of that version', async (t) => {
  const seen = observe(undefined, rec('other'), 5_000);
  t.same(decideLease(rec('other'), 'me', 5_000, seen), { kind: 'wait', holder: 'other', expiresAt: 20_000 });
  t.same(decideLease(rec('other'), 'me', 19_999, seen), { kind: 'wait', holder: 'other', expiresAt: 20_000 }, 'one ms before: still waiting');
  t.same(decideLease(rec('other'), 'me', 20_000, seen), { kind: 'take', reason: 'expired' }, 'the same version for the whole lease time: expired');
});

t.test('a renewal (new version) starts the wait again, whatever time the holder wrote', async (t) => {
  let seen = observe(undefined, rec('other', 10), 0);
  seen = observe(seen, rec('other', 11), 14_000);
  t.equal(seen.since, 14_000);
  t.same(decideLease(rec('other', 11), 'me', 20_000, seen), { kind: 'wait', holder: 'other', expiresAt: 29_000 });
  t.same(decideLease(rec('other', 11), 'me', 29_000, seen), { kind: 'take', reason: 'expired' });
  const recreated = observe(seen, { ...rec('other', 11), id: 'cfg2' }, 30_000);
  t.equal(recreated.since, 30_000, 'a recreated lease object is a new observation');
});

t.test('the holder stops acting a margin before any standby could take over', async (t) => {
  t.ok(stillHeld(0, LEASE, 13_000));
  t.notOk(stillHeld(0, LEASE, 13_500), 'past lease - 10 %');
  t.notOk(stillHeld(0, 1000, 800), 'at least 200 ms of margin');
  t.ok(stillHeld(0, 1000, 799));
});
