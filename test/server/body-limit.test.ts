import { request } from 'node:http';
import t from 'tap';
import { silentLogger } from '../../ts/observe/logger.ts';
import { MAX_BODY_BYTES, readJson, sendJson } from '../../ts/server/http-router.ts';
import { InternalServer } from '../../ts/server/internal-server.ts';

t.test('a body declared over the limit is refused with 413 before it is read, and the connection closes', async (t) => {
  const server = new InternalServer({ host: '127.0.0.1', port: 0 }, silentLogger());
  server.router.add('POST', '/echo', async (req, res) => sendJson(res, 200, await readJson(req)));
  await server.start();
  t.teardown(() => server.stop());
  // Headers announce 2 MiB but only 10 bytes follow: a server that read the body would wait forever.
  const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/echo', headers: { 'content-length': String(2 * MAX_BODY_BYTES), 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.write('{"a": 1234');
  });
  t.equal(answer.status, 413);
  t.equal(answer.connection, 'close');
  t.match(JSON.parse(answer.body), { error: `body of ${2 * MAX_BODY_BYTES} bytes is larger than ${MAX_BODY_BYTES} bytes` });
  const ok = await fetch(`http://127.0.0.1:${server.port}/echo`, { method: 'POST', body: '{"a":1}' });
  t.same(await ok.json(), { a: 1 }, 'a body within the limit is read');
});
