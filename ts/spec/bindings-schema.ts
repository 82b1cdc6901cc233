import { z } from 'zod';

/** Corestore names: lower-case letters, digits and "-", at most 63 characters. */
export const BINDING_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * One platform resource a service needs: a database (MongoDB-compatible) or object storage
 * (S3-compatible), provisioned by Corestore; its values go into the service's secret.json.
 */
export const bindingSchema = z.strictObject({
  type: z.enum(['database', 'objectstorage'], { error: 'expected "database" or "objectstorage"' }),
  /** Omitted: derived from the service name (see bindingName). Unique per type across the whole Corestore. */
  name: z
    .string({ error: 'expected a name' })
    .regex(BINDING_NAME, { error: 'expected lower-case letters, digits and "-", starting with a letter or digit, at most 63 characters' })
    .optional(),
  /** Put before every key the binding provides (e.g. ANALYTICS_ gives ANALYTICS_MONGODB_URI), for two bindings of one type. */
  envPrefix: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected the start of an environment variable name ([A-Za-z_][A-Za-z0-9_]*)' }).optional(),
  /** Passed to Corestore when the resource is created (engine version, region...). */
  options: z.record(z.string(), z.string({ error: 'expected a string' })).default({}),
});

export type BindingSpec = z.output<typeof bindingSchema>;

/** The binding's name in Corestore: its own, else the service name made Corestore-safe. */
export function bindingName(service: string, b: Pick<BindingSpec, 'name'>): string {
  if (b.name) return b.name;
  const slug = service.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+/, '').slice(0, 63).replace(/-+$/, '');
  return slug || 'binding';
}

/**
 * Rules across bindings, as `path: problem` lines: a (type, name) is bound by one service only,
 * once; two bindings of one type in a service need different envPrefix (their keys would clash).
 */
export function bindingSpecErrors(services: readonly { name: string; bindings: readonly BindingSpec[] }[]): string[] {
  const errors: string[] = [];
  const owners = new Map<string, string>();
  services.forEach((s, i) => {
    const prefixes = new Map<string, number>();
    s.bindings.forEach((b, j) => {
      const path = `services[${i}].bindings[${j}]`;
      const key = `${b.type}/${bindingName(s.name, b)}`;
      const first = owners.get(key);
      if (first !== undefined) errors.push(`${path}.name: ${b.type} "${bindingName(s.name, b)}" is already bound by ${first}; give it another name`);
      else owners.set(key, `${path}`);
      const prefixKey = `${b.type}/${b.envPrefix ?? ''}`;
      const same = prefixes.get(prefixKey);
      if (same !== undefined && first === undefined) errors.push(`${path}.envPrefix: services[${i}].bindings[${same}] is also a ${b.type} with the same keys; set a different envPrefix`);
      else prefixes.set(prefixKey, j);
    });
  });
  return errors;
}
