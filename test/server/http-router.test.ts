import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { CoreflowError } from '../../ts/errors.ts';
import { HttpError, readJson, Router, sendJson } from '../../ts/server/http-router.ts';

t.test('every error answer carries its catalogue code beside the text', async (t) => {
  const router = new Router()
    .add('POST', '/echo', async (req, res) => sendJson(res, 200, await readJson(req, 64)))
    .add('GET', '/locked', () => {
      throw new HttpError(401, 'send Authorization: Bearer <token>');
    })
    .add('GET', '/later', () => {
      throw new HttpError(503, 'no route table built yet');
    })
    .add('GET', '/bad-spec', () => {
      throw new CoreflowError('COREFLOW_ERR_SPEC_INVALID', { details: 'services[0].image: required' });
    })
    .add('GET', '/docker-down', () => {
      throw new CoreflowError('COREFLOW_ERR_DOCKER_UNREACHABLE', { endpoint: 'unix:///var/run/docker.sock', details: 'ECONNREFUSED' });
    })
    .add('GET', '/bug', () => {
      throw new TypeError("Cannot read properties of undefined (reading 'internal detail')");
    });
  const server = createServer(router.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const answer = async (path: string, init?: RequestInit) => {
    const res = await fetch(base + path, init);
    return { status: res.status, body: (await res.json()) as { error: string; code: string } };
  };

  t.same(await answer('/nowhere'), { status: 404, body: { error: 'no route /nowhere', code: 'COREFLOW_ERR_HTTP_REQUEST' } });
  t.same(await answer('/echo'), { status: 405, body: { error: 'GET not allowed on /echo', code: 'COREFLOW_ERR_HTTP_REQUEST' } });
  t.match(await answer('/echo', { method: 'POST', body: '{not json' }), { status: 400, body: { error: /not valid JSON/, code: 'COREFLOW_ERR_HTTP_REQUEST' } });
  t.match(await answer('/echo', { method: 'POST', body: JSON.stringify({ big: 'x'.repeat(100) }) }), { status: 413, body: { code: 'COREFLOW_ERR_HTTP_REQUEST' } });
  t.same(await answer('/echo', { method: 'POST', body: '{"ok":true}' }), { status: 200, body: { ok: true } }, 'a good request is answered as usual');
  t.match(await answer('/locked'), { status: 401, body: { code: 'COREFLOW_ERR_HTTP_UNAUTHORIZED' } });
  t.match(await answer('/later'), { status: 503, body: { error: 'no route table built yet', code: 'COREFLOW_ERR_NOT_READY' } });
  t.match(await answer('/bad-spec'), { status: 400, body: { error: /services\[0\]\.image: required/, code: 'COREFLOW_ERR_SPEC_INVALID' } });
  t.match(await answer('/docker-down'), { status: 503, body: { error: /cannot reach the Docker Engine/, code: 'COREFLOW_ERR_DOCKER_UNREACHABLE' } }, 'a transient error: try again later');
  t.same(await answer('/bug'), { status: 500, body: { error: 'internal error', code: 'COREFLOW_ERR_UNEXPECTED' } }, 'an unknown error: its code, no internals');
});
