import { z } from 'zod';

/** A named set of key -> value pairs that becomes one Docker secret (secret.json) per service. */
export const secretBundleSchema = z.strictObject({
  id: z.string().min(1, { error: 'expected a bundle id' }),
  values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
});

/** A container registry and the credentials that pull from it. */
export const registrySchema = z.strictObject({
  id: z.string().min(1, { error: 'expected a registry id' }),
  /** Host[:port] of the registry, e.g. registry.example.com or 127.0.0.1:5000. */
  url: z.string().regex(/^[a-z0-9.-]+(:\d+)?$/i, { error: 'expected a registry host such as registry.example.com or 127.0.0.1:5000' }),
  username: z.string().optional(),
  password: z.string().optional(),
});
