import t from 'tap';
import { buildDockerModel, dockerModelOf, resolveRunImages } from '../../ts/docker/desired-model.ts';
import { RunModel } from '../../ts/reconcile/run-model.ts';
import { imageChange, imageRequests } from '../../ts/docker/image-pin.ts';
import type { ImagePins, ImageResolver, Resolution } from '../../ts/docker/image-resolver.ts';
import type { DesiredService, LiveService } from '../../ts/docker/service-model.ts';
import { planServices } from '../../ts/docker/service-plan.ts';
import { CoreflowError, isCoreflowError } from '../../ts/errors.ts';
import { validateSpec } from '../../ts/spec/parse.ts';

const cluster = 'demo';
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const opts = { cluster, role: 'workload' as const, guard: false, allowMassDeletion: false };
const unreachable = (image: string): Resolution => ({ error: new CoreflowError('COREFLOW_ERR_REGISTRY_UNREACHABLE', { image, registry: 'reg', details: 'ECONNREFUSED' }) });
const notFound = (image: string): Resolution => ({ error: new CoreflowError('COREFLOW_ERR_IMAGE_NOT_FOUND', { image, registry: 'reg', details: 'gone' }) });
const refused = (image: string): Resolution => ({ error: new CoreflowError('COREFLOW_ERR_REGISTRY_AUTH', { image, registry: 'reg', what: 'rejected the configured credentials', details: 'HTTP 401' }) });

function spec(extra: Record<string, unknown> = {}) {
  return validateSpec({
    apiVersion: 'coreflow/v1',
    cluster: { name: cluster },
    registries: [{ id: 'reg', url: 'reg.example.com', username: 'u', password: 'p' }],
    services: [{ name: 'web', image: 'team/web:stable', registry: 'reg' }],
    ...extra,
  }).spec;
}

function pins(r: (image: string) => Resolution | undefined): ImagePins {
  return { get: (image) => r(image) };
}

function web(p: ImagePins | undefined, s = spec()): DesiredService {
  return buildDockerModel(s, undefined, undefined, undefined, p).workloads.services[0]!;
}

function liveOf(d: DesiredService): LiveService {
  return { id: 'id-web', name: d.name, version: 3, labels: d.spec.Labels, spec: structuredClone(d.spec) as unknown as Record<string, unknown> };
}

t.test('the model pins the tag; the hash covers the digest', async (t) => {
  const a = web(pins(() => ({ digest: A })));
  t.equal(a.spec.TaskTemplate.ContainerSpec.Image, `reg.example.com/team/web:stable@${A}`);
  const b = web(pins(() => ({ digest: B })));
  t.not(a.hash, b.hash, 'another digest is another desired spec');
  const [action] = planServices([b], [liveOf(a)], opts);
  t.match(action, { type: 'update', reason: 'spec changed', diff: [`image: reg.example.com/team/web:stable@${A} -> @${B}`] });
  t.same(planServices([a], [liveOf(a)], opts).map((x) => x.type), ['skip'], 'same digest: nothing to do');
  const drifted = liveOf(a);
  (drifted.spec as { TaskTemplate: { ContainerSpec: { Image: string } } }).TaskTemplate.ContainerSpec.Image = `reg.example.com/team/web:stable@${B}`;
  t.match(planServices([a], [drifted], opts)[0], { type: 'update', reason: 'drifted: changed outside coreflow', diff: [`image: reg.example.com/team/web:stable@${B} -> @${A}`] });
});

t.test('a registry that did not answer: a running service keeps its digest, a new one gets the tag', async (t) => {
  const running = web(pins(() => ({ digest: A })));
  const down = web(pins(unreachable));
  const [kept] = planServices([down], [liveOf(running)], opts);
  t.equal(kept!.type, 'skip', 'no write');
  t.equal(kept!.warningCode, 'COREFLOW_ERR_REGISTRY_UNREACHABLE');
  t.match(kept!.warning, `keeping ${A}`);
  const [created] = planServices([down], [], opts);
  t.equal(created!.type, 'create');
  t.equal(created!.blocked, undefined);
  t.match(created!.warning, 'deployed as reg.example.com/team/web:stable without a digest');
  t.equal((created!.payload as { desired: DesiredService }).desired.spec.TaskTemplate.ContainerSpec.Image, 'reg.example.com/team/web:stable');
  // Another change while the registry is down: applied, with the digest the service runs.
  const changed = web(pins(unreachable), spec({ services: [{ name: 'web', image: 'team/web:stable', registry: 'reg', environment: { X: '1' } }] }));
  const [update] = planServices([changed], [liveOf(running)], opts);
  t.equal(update!.type, 'update');
  t.equal((update!.payload as { desired: DesiredService }).desired.spec.TaskTemplate.ContainerSpec.Image, `reg.example.com/team/web:stable@${A}`);
});

t.test('a deleted tag is reported, not acted on; refused credentials fail the service', async (t) => {
  const running = web(pins(() => ({ digest: A })));
  const [gone] = planServices([web(pins(notFound))], [liveOf(running)], opts);
  t.match(gone, { type: 'skip', warningCode: 'COREFLOW_ERR_IMAGE_NOT_FOUND' });
  const [missing] = planServices([web(pins(notFound))], [], opts);
  t.match(missing, { type: 'create', blocked: { status: 'failed', code: 'COREFLOW_ERR_IMAGE_NOT_FOUND' } });
  const [bad] = planServices([web(pins(refused))], [liveOf(running)], opts);
  t.match(bad, { type: 'update', blocked: { status: 'failed', code: 'COREFLOW_ERR_REGISTRY_AUTH' } });
  t.match(bad!.blocked!.reason, 'rejected the configured credentials');
});

t.test('images.resolve: what a run asks for', async (t) => {
  const s = spec({
    baseServices: { corelog: { enabled: false }, corestore: { enabled: false } },
    services: [
      { name: 'a', image: 'team/web:stable', registry: 'reg' },
      { name: 'b', image: 'team/web:stable', registry: 'reg' },
      { name: 'c', image: 'preloaded/tool:1', images: { resolve: 'never' } },
      { name: 'd', image: `pinned/app@${A}` },
      { name: 'e', image: 'Bad/Ref:1' },
    ],
  });
  t.same(imageRequests(s).map((r) => [r.image, r.registry?.id]), [
    ['code.foss.global/serve.zone/coretraffic:latest', undefined],
    ['reg.example.com/team/web:stable', 'reg'],
    ['reg.example.com/team/web:stable', 'reg'],
  ]);
  const model = buildDockerModel(s, undefined, undefined, undefined, pins(() => ({ digest: B })));
  t.equal(model.baseServices[0]!.spec.TaskTemplate.ContainerSpec.Image, `code.foss.global/serve.zone/coretraffic:latest@${B}`, 'base services are pinned too');
  t.equal(model.workloads.services[2]!.spec.TaskTemplate.ContainerSpec.Image, 'preloaded/tool:1', 'never: as written');
  t.equal(model.workloads.services[3]!.spec.TaskTemplate.ContainerSpec.Image, `pinned/app@${A}`, 'a digest already written stays');
  t.same(imageRequests(spec({ images: { resolve: 'never' } })), [], 'off for the whole document');
  try {
    spec({ images: { resolve: 'sometimes' } });
    t.fail('expected a validation error');
  } catch (err) {
    t.ok(isCoreflowError(err, 'COREFLOW_ERR_SPEC_INVALID'));
    t.match((err as Error).message, 'images.resolve: expected "always" or "never"');
  }
  t.equal(imageChange('a:1', 'a:2'), 'image: a:1 -> a:2');
});

t.test('the run resolves first, then renders its model once, pinned', async (t) => {
  const s = spec();
  const asked: number[] = [];
  const resolver = { resolve: async () => (asked.push(1), pins(() => ({ digest: A }))) } as unknown as ImageResolver;
  const ctx = { model: new RunModel(), spec: s, signal: new AbortController().signal };
  const prepare = resolveRunImages(resolver);
  await Promise.all([prepare(ctx), prepare(ctx)]);
  t.equal(asked.length, 1, 'one resolution per run, whoever asks');
  const read = dockerModelOf();
  const model = read(s, ctx);
  t.equal(read(s, ctx), model, 'rendered once');
  t.equal(model.workloads.services[0]!.spec.TaskTemplate.ContainerSpec.Image, `reg.example.com/team/web:stable@${A}`);
});
