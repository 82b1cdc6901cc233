import type { z } from 'zod';
import type { clusterSpecSchema } from './schema.ts';

/** The validated, defaulted desired state. */
export type ClusterSpec = z.output<typeof clusterSpecSchema>;
export type ServiceSpec = ClusterSpec['services'][number];
export type BaseServiceSpec = ClusterSpec['baseServices']['coretraffic'];
export type SecretBundle = ClusterSpec['secretBundles'][number];
export type RegistrySpec = ClusterSpec['registries'][number];
