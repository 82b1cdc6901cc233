import { z } from 'zod';
import { bindingSchema } from './bindings-schema.ts';
import { composeServiceFields, tmpfsTargets } from './service-compose-schema.ts';
import { dockerName, envName, envValue, hostname, imageRef, imageResolveMode, nonNegativeInt, port, positiveNumber, userLabels } from './primitives.ts';

export const DEFAULT_MEMORY_LIMIT_MB = 1000;

const volumeMount = z.strictObject({
  hostFsPath: z.string().startsWith('/', { error: 'expected an absolute host path' }),
  containerFsPath: z.string().startsWith('/', { error: 'expected an absolute container path' }),
  readOnly: z.boolean().default(false),
});

const volume = z.strictObject({
  mountPath: z.string().startsWith('/', { error: 'expected an absolute container path' }),
  /** Omitted: derived from the service name and mount path, stable across updates and restarts. */
  name: dockerName.optional(),
  /** `corestore` (the platform's volume plugin, the default) or any driver the nodes have, e.g. `local`. */
  driver: z.string().min(1).default('corestore'),
  driverOptions: z.record(z.string(), z.string()).default({}),
  backup: z.boolean().default(false),
  /** Only a volume marked prunable is ever removed when no service uses it any more. */
  prunable: z.boolean().default(false),
  readOnly: z.boolean().default(false),
  /**
   * The volume exists already (made by `docker stack deploy` or by hand): it is mounted by name
   * only, without driver options or labels, and coreflow never labels or removes it. Needs `name`.
   */
  external: z.boolean().optional(),
});

/** An existing Docker secret mounted by name; coreflow never creates, changes or removes it. */
const externalSecret = z.strictObject({
  name: dockerName,
  /** File name under /run/secrets; default: the secret's name. */
  target: z.string().regex(/^[^/\0]+$/, { error: 'expected a file name under /run/secrets (no "/")' }).optional(),
  uid: z.string().regex(/^\d+$/, { error: 'expected a numeric uid' }).default('0'),
  gid: z.string().regex(/^\d+$/, { error: 'expected a numeric gid' }).default('0'),
  mode: z.number().int().min(0).max(0o777, { error: 'expected a file mode 0-0o777' }).default(0o444),
});

/** A network the service joins instead of the gateway network; it must exist (coreflow does not create it). */
const serviceNetwork = z.strictObject({
  name: dockerName,
  aliases: z.array(z.string().min(1)).optional(),
});

const domain = z.strictObject({
  name: hostname,
  port: port.optional(),
  protocol: z.enum(['http', 'https'], { error: 'expected "http" or "https"' }).default('https'),
});

const publishedPort = z.strictObject({
  target: port,
  published: port,
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  mode: z.enum(['ingress', 'host']).default('ingress'),
});

const updatePolicy = z.strictObject({
  order: z.enum(['start-first', 'stop-first'], { error: 'expected "start-first" or "stop-first"' }).optional(),
  parallelism: nonNegativeInt.default(1),
  failureAction: z.enum(['pause', 'continue', 'rollback'], { error: 'expected "pause", "continue" or "rollback"' }).default('pause'),
  monitorSeconds: z.number().min(0).default(5),
});

const serviceFields = z.strictObject({
  name: dockerName,
  /** Optional in the schema so a record without one fails alone (fail small), not the document. */
  image: imageRef.optional(),
  /** The id of a registry in `registries` whose credentials pull this image. */
  registry: z.string().min(1).optional(),
  /** Overrides the document's `images.resolve` for this service. */
  images: z.strictObject({ resolve: imageResolveMode.optional() }).optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  environment: z.record(envName, envValue).default({}),
  labels: userLabels.default({}),
  secretBundleId: z.string().min(1).optional(),
  additionalSecretBundleIds: z.array(z.string().min(1)).default([]),
  mode: z.enum(['replicated', 'global'], { error: 'expected "replicated" or "global"' }).default('replicated'),
  scaleFactor: nonNegativeInt.default(1),
  ports: z
    .strictObject({
      web: port.optional(),
      custom: z.record(hostname, port).default({}),
    })
    .prefault({}),
  domains: z.array(domain).default([]),
  publish: z.array(publishedPort).default([]),
  resources: z
    .strictObject({
      cpuLimit: positiveNumber.optional(),
      cpuReservation: positiveNumber.optional(),
      /** 0: no memory limit (Docker's default). */
      memoryLimitMB: z.number({ error: 'expected a number' }).min(0, { error: 'expected a number > 0, or 0 for no limit' }).default(DEFAULT_MEMORY_LIMIT_MB),
      memoryReservationMB: positiveNumber.optional(),
      volumeMounts: z.array(volumeMount).default([]),
    })
    .prefault({}),
  volumes: z.array(volume).default([]),
  /** Platform resources (database, object storage) provisioned through Corestore; their values join secret.json. */
  bindings: z.array(bindingSchema).default([]),
  externalSecrets: z.array(externalSecret).optional(),
  /** Omitted: the gateway network, with the service's name as alias. */
  networks: z.array(serviceNetwork).min(1, { error: 'expected at least one network' }).optional(),
  /** What to do when a rolling update pauses on failing tasks; see failure policy in docs/spec.md. */
  onPausedUpdate: z.enum(['rollback', 'pause'], { error: 'expected "rollback" or "pause"' }).optional(),
  /** Records with a category other than "workload" are skipped with a reason. */
  serviceCategory: z.string().optional(),
  /** Held as it is: not created, changed, healed or removed; drift on it is reported. */
  suspended: z.boolean().default(false),
  /** `{ dockerDefaults: true }`: no update policy is sent, Docker's own applies (what a stack without update_config runs). */
  update: z
    .union([z.strictObject({ dockerDefaults: z.literal(true) }), updatePolicy], { error: 'expected an update policy, or { dockerDefaults: true } alone' })
    .prefault({}),
  ...composeServiceFields,
});

/** A workload record; the rules across its fields are checked once each field is valid. */
export const serviceSchema = serviceFields.superRefine((s, ctx) => {
  if (s.mode === 'global' && s.placement?.maxReplicasPerNode) {
    ctx.addIssue({ code: 'custom', path: ['placement', 'maxReplicasPerNode'], message: 'only for replicated services (mode is global)' });
  }
  const ingress = s.publish.findIndex((p) => p.mode === 'ingress');
  if (s.endpointMode === 'dnsrr' && ingress >= 0) {
    ctx.addIssue({ code: 'custom', path: ['endpointMode'], message: `dnsrr cannot publish in ingress mode (publish[${ingress}]); publish with mode: host` });
  }
  s.volumes.forEach((v, i) => {
    if (v.external && v.name === undefined) ctx.addIssue({ code: 'custom', path: ['volumes', i, 'name'], message: 'an external volume needs its name' });
  });
  const taken = new Set([...s.volumes.map((v) => v.mountPath), ...s.resources.volumeMounts.map((m) => m.containerFsPath)]);
  tmpfsTargets(s.tmpfs).forEach((target, i) => {
    if (taken.has(target)) ctx.addIssue({ code: 'custom', path: ['tmpfs', ...(Array.isArray(s.tmpfs) ? [i] : [])], message: `${target} is already a mount point` });
    taken.add(target);
  });
});
