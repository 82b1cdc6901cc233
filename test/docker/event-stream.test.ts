import t from 'tap';
import { DockerEventStream, type DockerEvent } from '../../ts/docker/event-stream.ts';
import { silentLogger } from '../../ts/observe/logger.ts';
import { connect, uniqueName, waitFor } from '../helpers/swarm.ts';

/** The agent's one Docker event stream against the real engine: every subscriber hears every event. */
const { docker } = await connect();

t.test('one stream, every subscriber hears the events; a throwing subscriber does not stop the others', async (t) => {
  const stream = new DockerEventStream(docker, { types: ['network'], log: silentLogger() });
  const heard: { a: DockerEvent[]; b: DockerEvent[] } = { a: [], b: [] };
  stream.subscribe({
    onEvent: () => {
      throw new Error('a broken subscriber');
    },
  });
  stream.subscribe({ onEvent: (e) => void heard.a.push(e) });
  const off = stream.subscribe({ onEvent: (e) => void heard.b.push(e) });
  await stream.start();
  t.teardown(() => stream.stop());
  const is = (e: DockerEvent, action: string, name: string) => e.Action === action && e.Actor.Attributes?.name === name;
  const created: { name: string; remove: () => Promise<unknown> }[] = [];
  t.teardown(async () => {
    for (const n of created) await n.remove().catch(() => undefined);
  });
  // The stream may open after the first create: create networks until one is heard.
  const net = await waitFor('a network event on the stream', async () => {
    const name = uniqueName('cfevents');
    const n = await docker.createNetwork({ Name: name, Driver: 'overlay', Attachable: true });
    created.push({ name, remove: () => n.remove() });
    return waitFor('its create', async () => heard.a.some((e) => is(e, 'create', name)) && { name, n }, 1000, 50).catch(() => undefined);
  }, 30_000, 0);
  t.ok(heard.b.some((e) => is(e, 'create', net.name)), 'both subscribers heard the create');
  off();
  await net.n.remove();
  await waitFor('the remove', async () => heard.a.some((e) => is(e, 'destroy', net.name) || is(e, 'remove', net.name)));
  t.notOk(heard.b.some((e) => is(e, 'destroy', net.name) || is(e, 'remove', net.name)), 'an unsubscribed listener hears nothing more');
});
