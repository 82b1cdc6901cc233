import { z } from 'zod';
import { dockerName, imageRef, port } from './primitives.ts';

const network = (defaultName: string) =>
  z
    .strictObject({
      name: dockerName.default(defaultName),
      /** The network exists already (e.g. a stack's): used by name, never created, changed or removed. */
      external: z.boolean().optional(),
    })
    .prefault({});

export const networksSchema = z
  .strictObject({
    /** Public workload traffic: workload services and the edge proxy join it. */
    gateway: network('sznwebgateway'),
    /** Internal platform traffic between base services. */
    internal: network('szncorechat'),
  })
  .prefault({});

const hostPort = z.strictObject({
  published: port,
  target: port,
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  mode: z.enum(['ingress', 'host']).default('host'),
});

const bindMount = z.strictObject({
  source: z.string().startsWith('/', { error: 'expected an absolute host path' }),
  target: z.string().startsWith('/', { error: 'expected an absolute container path' }),
});

interface BaseDefaults {
  name: string;
  image: string;
  ports?: { published: number; target: number; protocol: 'tcp'; mode: 'host' }[];
  mounts?: { source: string; target: string }[];
}

const baseService = (d: BaseDefaults) =>
  z
    .strictObject({
      enabled: z.boolean().default(true),
      name: dockerName.default(d.name),
      image: imageRef.default(d.image),
      command: z.array(z.string()).optional(),
      args: z.array(z.string()).optional(),
      environment: z.record(z.string(), z.string()).default({}),
      ports: z.array(hostPort).default(d.ports ?? []),
      mounts: z.array(bindMount).default(d.mounts ?? []),
    })
    .prefault({});

export const baseServicesSchema = z
  .strictObject({
    /** The edge proxy: on both networks, host ports 80 -> 7999 and 443 -> 8000. */
    coretraffic: baseService({
      name: 'coretraffic',
      image: 'code.foss.global/serve.zone/coretraffic:latest',
      ports: [
        { published: 80, target: 7999, protocol: 'tcp', mode: 'host' },
        { published: 443, target: 8000, protocol: 'tcp', mode: 'host' },
      ],
    }),
    /** Log collection, on the internal network. */
    corelog: baseService({ name: 'corelog', image: 'code.foss.global/serve.zone/corelog:latest' }),
    /** Storage, one task per node (global), on both networks, with its host paths bind-mounted. */
    corestore: baseService({
      name: 'corestore',
      image: 'code.foss.global/serve.zone/corestore:latest',
      mounts: [
        { source: '/var/lib/serve.zone/corestore', target: '/var/lib/serve.zone/corestore' },
        { source: '/run/docker/plugins', target: '/run/docker/plugins' },
      ],
    }),
  })
  .prefault({});
