import type { ErrorCode } from '../errors.ts';
import { notDeployedReason } from '../spec/service-category.ts';
import type { ClusterSpec, RegistrySpec, ServiceSpec } from '../spec/types.ts';
import { parseImageRef } from './image-ref.ts';
import type { ImagePins, ImageRequest, Resolution } from './image-resolver.ts';
import { LABEL_CLUSTER, LABEL_HASH, LABEL_KIND, LABEL_MANAGED_BY } from './labels.ts';
import { imageFor, imageHost, imageReferenceProblem, registryFor, registryProblems } from './registry-auth.ts';
import type { DesiredService, LiveService } from './service-model.ts';
import { sealService } from './service-render.ts';

/** How a desired service's image was pinned in this run (absent: deployed as written). */
export interface ImagePin {
  /** The reference as deployed without a digest, tag explicit (`127.0.0.1:5000/app:stable`). */
  tagged: string;
  /** pinned: to `digest`; unresolved: the registry gave no digest (`problem` says why); failed: the registry refused the credentials. */
  state: 'pinned' | 'unresolved' | 'failed';
  digest?: string;
  problem?: { code: ErrorCode; message: string };
}

/** Whether a workload record's tag is resolved: its own `images.resolve`, else the document's. */
export function resolvesImage(spec: ClusterSpec, s?: ServiceSpec): boolean {
  return (s?.images?.resolve ?? spec.images.resolve) === 'always';
}

function hasDigest(image: string): boolean {
  return image.includes('@');
}

/** The declared registry of a base service's image, by host (base services name none). */
function baseRegistry(spec: ClusterSpec, image: string): RegistrySpec | undefined {
  const host = imageHost(image);
  return host ? spec.registries.find((r) => r.url.toLowerCase() === host.toLowerCase()) : undefined;
}

/**
 * Pure. The images a run resolves: every deployable workload record and enabled base service whose
 * resolution is on and whose image carries no digest yet. Records that will fail on their own
 * (bad reference, bad registry entry) are left out.
 */
export function imageRequests(spec: ClusterSpec): ImageRequest[] {
  const out: ImageRequest[] = [];
  if (resolvesImage(spec)) {
    for (const b of Object.values(spec.baseServices)) {
      if (b.enabled && !hasDigest(b.image)) {
        const registry = baseRegistry(spec, b.image);
        out.push({ image: b.image, ...(registry ? { registry } : {}) });
      }
    }
  }
  for (const s of spec.services) {
    if (!s.image || notDeployedReason(s) || !resolvesImage(spec, s)) continue;
    const registry = registryFor(spec, s);
    const image = imageFor(spec, s, registry);
    if (hasDigest(image) || imageReferenceProblem(image) || registryProblems(spec, s, registry).length > 0) continue;
    out.push({ image, ...(registry ? { registry } : {}) });
  }
  return out;
}

/** Pure. The image to render and its pin, from the run's resolution of `image` (none: as written). */
export function pinImage(image: string, resolution: Resolution | undefined): { image: string; imagePin?: ImagePin } {
  if (!resolution || hasDigest(image)) return { image };
  const { tagged } = parseImageRef(image);
  if ('digest' in resolution) return { image: `${tagged}@${resolution.digest}`, imagePin: { tagged, state: 'pinned', digest: resolution.digest } };
  const problem = { code: resolution.error.code, message: resolution.error.message };
  return { image, imagePin: { tagged, state: resolution.error.code === 'COREFLOW_ERR_REGISTRY_AUTH' ? 'failed' : 'unresolved', problem } };
}

/** The pin of a base service's image (base services use the document's setting). */
export function pinBaseImage(spec: ClusterSpec, image: string, pins: ImagePins | undefined): { image: string; imagePin?: ImagePin } {
  return pinImage(image, resolvesImage(spec) ? pins?.get(image, baseRegistry(spec, image)) : undefined);
}

const OWNERSHIP_KEYS = new Set([LABEL_MANAGED_BY, LABEL_CLUSTER, LABEL_KIND, LABEL_HASH]);

/** Pure. The same desired service with another image, sealed again (so its hash covers the image). */
export function withImage(d: DesiredService, cluster: string, image: string): DesiredService {
  const labels = Object.fromEntries(Object.entries(d.spec.Labels).filter(([k]) => !OWNERSHIP_KEYS.has(k)));
  const spec = { ...d.spec, Labels: labels, TaskTemplate: { ...d.spec.TaskTemplate, ContainerSpec: { ...d.spec.TaskTemplate.ContainerSpec, Image: image } } };
  const { name: _n, role, spec: _s, hash: _h, ...extra } = d;
  return sealService(cluster, role, spec, extra);
}

/** The image a live service runs. */
export function liveImage(l: LiveService): string | undefined {
  const image = (l.spec as { TaskTemplate?: { ContainerSpec?: { Image?: unknown } } }).TaskTemplate?.ContainerSpec?.Image;
  return typeof image === 'string' ? image : undefined;
}

/** What the planner makes of a pin for one service: the desired service to plan, a warning, or a failure. */
export interface SettledPin {
  desired: DesiredService;
  warning?: { code: ErrorCode; message: string };
  failure?: { code: ErrorCode; message: string };
}

/**
 * Pure. Never fail what runs: when the registry gave no digest, a service that runs this tag
 * keeps the digest it runs (so nothing is written for the image) and the run warns; a new service
 * (or one that ran another tag) gets the tag alone, with a warning, unless the tag does not exist,
 * which fails it. Credentials the registry refused fail the service; the running one is left as is.
 */
export function settlePin(d: DesiredService, live: LiveService | undefined, cluster: string): SettledPin {
  const pin = d.imagePin;
  if (!pin || pin.state === 'pinned' || !pin.problem) return { desired: d };
  if (pin.state === 'failed') return { desired: d, failure: pin.problem };
  const running = live ? liveImage(live) : undefined;
  const asWritten = d.spec.TaskTemplate.ContainerSpec.Image;
  const runsTag = running !== undefined && (running === pin.tagged || running === asWritten || running.startsWith(`${pin.tagged}@`));
  if (runsTag) {
    const kept = running.includes('@') ? `; keeping ${running.slice(running.indexOf('@') + 1)}` : '; keeping the tag it runs';
    return { desired: running === asWritten ? d : withImage(d, cluster, running), warning: { code: pin.problem.code, message: `${pin.problem.message}${kept}` } };
  }
  if (pin.problem.code === 'COREFLOW_ERR_IMAGE_NOT_FOUND') return { desired: d, failure: pin.problem };
  return { desired: d, warning: { code: pin.problem.code, message: `${pin.problem.message}; deployed as ${pin.tagged} without a digest` } };
}

/** Pure. The image line of a diff: `image: repo:tag@sha256:aaa -> @sha256:bbb` when only the digest changed. */
export function imageChange(from: string | undefined, to: string): string {
  if (from === undefined) return `image: -> ${to}`;
  const [fromName, fromDigest] = from.split('@', 2);
  const [toName, toDigest] = to.split('@', 2);
  if (fromName === toName && fromDigest && toDigest) return `image: ${from} -> @${toDigest}`;
  return `image: ${from} -> ${to}`;
}

/** Pure. The image reference (as deployed, without a digest) of the service or base service called `name`, or undefined. */
export function serviceImage(spec: ClusterSpec, name: string): string | undefined {
  const s = spec.services.find((x) => x.name === name);
  if (s) return s.image ? imageFor(spec, s) : '';
  const b = Object.values(spec.baseServices).find((x) => x.enabled && x.name === name);
  return b?.image;
}
