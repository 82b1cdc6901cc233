import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../ts/observe/logger.ts';
import { CertificateStore, parseCertificate, type CertificateProvider } from '../../ts/routing/certificates.ts';
import { validateSpec } from '../../ts/spec/parse.ts';
import { until } from '../helpers/swarm.ts';


const dir = new URL('../fixtures/routing/', import.meta.url).pathname;
const pem = (f: string) => readFileSync(dir + f, 'utf8');
const APP = { publicKey: pem('app.crt'), privateKey: pem('app.key') };
const OTHER = { publicKey: pem('other.crt'), privateKey: pem('other.key') };

function spec(routing: unknown) {
  return validateSpec({ apiVersion: 'coreflow/v1', cluster: { name: 'c1' }, routing }).spec;
}

/** Captures log lines so tests can check that no key material is ever logged. */
function capture() {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  return { log, text: () => lines.join('') };
}

/** An in-process certificate provider behaving like the control plane's getCertificateForDomain. */
class FakeProvider implements CertificateProvider {
  calls: string[] = [];
  certs = new Map<string, { publicKey: string; privateKey: string }>();
  fail = false;
  async getCertificateForDomain(domain: string) {
    this.calls.push(domain);
    if (this.fail) throw new Error('control plane unreachable');
    return this.certs.get(domain);
  }
}

t.test('parseCertificate checks the pair and reads the expiry, without leaking the key', async (t) => {
  const e = parseCertificate('app.example.test', APP.publicKey, APP.privateKey, 'spec');
  t.ok(e.notAfter > Date.now() + 50 * 365 * 86400_000);
  t.throws(() => parseCertificate('app.example.test', APP.publicKey, OTHER.privateKey, 'spec'), { code: 'COREFLOW_ERR_CERTIFICATE_INVALID', message: 'the certificate for app.example.test is unusable: the private key does not belong to the certificate' });
  t.throws(() => parseCertificate('app.example.test', 'garbage', APP.privateKey, 'spec'), { code: 'COREFLOW_ERR_CERTIFICATE_INVALID', message: /not a valid PEM certificate/ });
});

t.test('spec certificates: files and inline; bad ones are reported by index', async (t) => {
  const { log } = capture();
  const store = new CertificateStore(undefined, { log });
  const s = spec({
    certificates: [
      { domain: 'app.example.test', certFile: `${dir}app.crt`, keyFile: `${dir}app.key` },
      { domain: '*.example.test', cert: pem('wildcard.crt'), key: pem('wildcard.key') },
      { domain: 'bad.example.test', cert: APP.publicKey, key: OTHER.privateKey },
      { domain: 'gone.example.test', certFile: '/nonexistent/x.crt', keyFile: '/nonexistent/x.key' },
    ],
  });
  const { certificates, problems } = await store.resolve(s, []);
  t.same([...certificates.keys()].sort(), ['*.example.test', 'app.example.test']);
  t.match(problems, [
    { hostName: 'bad.example.test', reason: 'routing.certificates[2]: the certificate for bad.example.test is unusable: the private key does not belong to the certificate' },
    { hostName: 'gone.example.test', reason: /routing.certificates\[3\]: .*ENOENT/ },
  ]);
  t.notMatch(JSON.stringify(problems), /PRIVATE KEY/);
});

t.test('provider: asked for uncovered hostnames only, cached, refreshed before expiry, never logged', async (t) => {
  const { log, text } = capture();
  const provider = new FakeProvider();
  provider.certs.set('other.example.test', OTHER);
  let now = Date.now();
  let updates = 0;
  const store = new CertificateStore(provider, { log, now: () => now, refreshBeforeMs: 3600_000, retryMissingMs: 60_000, onUpdate: () => updates++ });
  const s = spec({ certificates: [{ domain: 'app.example.test', cert: APP.publicKey, key: APP.privateKey }] });

  const first = await store.resolve(s, ['app.example.test', 'other.example.test', 'none.example.test']);
  t.same(provider.calls.sort(), ['none.example.test', 'other.example.test'], 'the spec certificate is not asked for');
  t.equal(first.certificates.get('other.example.test')?.source, 'provider');
  t.notOk(first.certificates.has('none.example.test'));

  await store.resolve(s, ['other.example.test', 'none.example.test']);
  t.equal(provider.calls.length, 2, 'cached: no new calls');

  // The missing one is asked again after retryMissingMs; the cached one only near its expiry.
  now += 61_000;
  await store.resolve(s, ['other.example.test', 'none.example.test']);
  await new Promise((r) => setImmediate(r));
  t.same(provider.calls.slice(2), ['none.example.test']);

  const notAfter = first.certificates.get('other.example.test')!.notAfter;
  now = notAfter - 1800_000; // inside the refresh window
  provider.fail = true;
  const during = await store.resolve(s, ['other.example.test']);
  await until('the background refresh to fail', () => /certificate provider failed/.test(text()));
  t.equal(provider.calls.at(-1), 'other.example.test', 'refreshed before expiry');
  t.ok(during.certificates.has('other.example.test'), 'a failed refresh keeps the cached certificate');

  provider.fail = false;
  provider.certs.set('none.example.test', APP); // wrong domain for the cert is fine for the store; the pair matches
  now += 120_000;
  await store.resolve(s, ['none.example.test']);
  await until('the background fetch to ask for a rebuild', () => updates >= 1);
  t.equal(updates, 1, 'a background fetch that brought a new certificate asks for a rebuild');

  now = notAfter + 1;
  const after = await store.resolve(s, ['other.example.test']);
  t.notOk(after.certificates.has('other.example.test'), 'an expired certificate is not used');
  t.ok(after.problems.some((p) => p.hostName === 'other.example.test' && /^the provider certificate expired on/.test(p.reason)), 'reported as expired');

  t.notMatch(text(), /PRIVATE KEY|BEGIN CERTIFICATE/, 'no key material in the logs');
  t.match(text(), /certificate provider failed/);
});

t.test('routing.certificateProvider: false never asks the provider', async (t) => {
  const provider = new FakeProvider();
  const store = new CertificateStore(provider, { log: capture().log });
  await store.resolve(spec({ certificateProvider: false }), ['x.example.test']);
  t.same(provider.calls, []);
});
