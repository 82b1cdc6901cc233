import { z } from 'zod';
import { baseServicesSchema, networksSchema } from './base-schema.ts';
import { dnsSchema } from './dns-schema.ts';
import { dockerName, imageResolveMode } from './primitives.ts';
import { routingSchema } from './routing-schema.ts';
import { registrySchema, secretBundleSchema } from './secrets-schema.ts';
import { serviceSchema } from './service-schema.ts';

export const API_VERSION = 'coreflow/v1';

/** The whole desired state of one cluster: `apiVersion: coreflow/v1`. docs/spec.md documents it. */
export const clusterSpecSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `expected "${API_VERSION}"` }),
  cluster: z.strictObject({ name: dockerName }),
  networks: networksSchema,
  baseServices: baseServicesSchema,
  secretBundles: z.array(secretBundleSchema).default([]),
  registries: z.array(registrySchema).default([]),
  services: z.array(serviceSchema).default([]),
  routing: routingSchema,
  dns: dnsSchema,
  /** Kinds of objects held as they are: not created, changed, healed or pruned. */
  suspend: z
    .strictObject({
      services: z.boolean().default(false),
      baseServices: z.boolean().default(false),
      secrets: z.boolean().default(false),
      volumes: z.boolean().default(false),
      networks: z.boolean().default(false),
      dns: z.boolean().default(false),
    })
    .prefault({}),
  images: z
    .strictObject({
      /** always: tags are pinned to the digest the registry names (default); never: deployed as written (air-gapped swarms). */
      resolve: imageResolveMode.default('always'),
    })
    .prefault({}),
  guards: z
    .strictObject({
      /** Lets a run remove all, or more than half, of the owned workload services. */
      allowMassDeletion: z.boolean().default(false),
    })
    .prefault({}),
});
