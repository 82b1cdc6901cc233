import t from 'tap';
import { DriftController } from '../../ts/controllers/drift.ts';
import { ownedNames } from '../../ts/controllers/owned-objects.ts';
import { EventBus } from '../../ts/observe/events.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { until } from '../helpers/swarm.ts';

const ev = (Type: string, Action: string, name: string) => ({ Type, Action, Actor: { ID: 'x', Attributes: { name } } });

t.test('only changes to owned objects wake the chain, collapsed into one trigger', async (t) => {
  const triggers: string[] = [];
  const bus = new EventBus();
  let busy = false;
  const drift = new DriftController({
    events: { subscribe: () => () => undefined },
    log: silentLogger(),
    owned: () => new Set(['service/web', 'network/gw']),
    trigger: (r) => void triggers.push(r),
    busy: () => busy,
    bus,
    debounceMs: 30,
  });
  const nextTrigger = (n: number) => until(`trigger ${n}`, () => triggers.length >= n);
  // Ignored events first, then relevant ones in the same debounce window: had any ignored event
  // counted, it would be in the one trigger's reason, and in the count of relevant events.
  drift.onEvent(ev('service', 'update', 'not-ours'));
  drift.onEvent(ev('network', 'connect', 'gw'));
  drift.onEvent(ev('network', 'disconnect', 'gw'));
  drift.onEvent(ev('container', 'die', 'web'));
  drift.onEvent({ ...ev('network', 'create', 'gw'), scope: 'local' });
  drift.onEvent({ ...ev('network', 'destroy', 'gw'), scope: 'local' });
  t.same(bus.recent(), [], 'foreign objects, task attach/detach, a node instantiating the overlay for a task, and containers make no event');
  drift.onEvent({ ...ev('service', 'remove', 'web'), scope: 'swarm' });
  drift.onEvent(ev('network', 'destroy', 'gw'));
  await nextTrigger(1);
  t.same(triggers, ['service web remove (Docker event), network gw destroy (Docker event)'], 'one trigger for a burst, naming only the owned objects');
  t.same(bus.recent().map((e) => `${e.type} ${e.kind}/${e.name}`), ['drift.detected service/web', 'drift.detected network/gw']);
  t.equal(await drift.reconcile(), 2, 'the ignored events were not counted');

  busy = true;
  drift.onEvent(ev('service', 'remove', 'web'));
  await nextTrigger(2);
  t.equal(triggers.length, 2, 'during a run it still wakes the chain (one more run follows)');
  t.equal(bus.recent().length, 2, 'but no drift event: most likely our own write');
  t.equal(await drift.reconcile(), 1, 'relevant events counted as items');
  t.equal(await drift.reconcile(), 0);
});

t.test('owned names from a run: not deleted, not foreign', async (t) => {
  const names = ownedNames([
    {
      actions: [
        { kind: 'network', name: 'gw', type: 'skip', status: 'skipped' },
        { kind: 'base-service', name: 'coretraffic', type: 'update', status: 'succeeded' },
        { kind: 'service', name: 'gone', type: 'delete', status: 'succeeded' },
        { kind: 'service', name: 'foreign', type: 'skip', status: 'failed' },
        { kind: 'service', name: 'broken', type: 'create', status: 'failed' },
      ],
    },
  ]);
  t.same([...names].sort(), ['network/gw', 'service/broken', 'service/coretraffic']);
});
