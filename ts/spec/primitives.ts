import { z } from 'zod';

/** Building blocks shared by the sections of the desired-state schema. */

export const port = z
  .number({ error: 'expected a port number' })
  .int({ error: 'expected a port number' })
  .min(1, { error: 'expected a port number (1-65535)' })
  .max(65535, { error: 'expected a port number (1-65535)' });

/** Names Docker accepts for services, networks, secrets and volumes. */
export const dockerName = z
  .string({ error: 'expected a name' })
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, {
    error: 'expected a Docker object name: letters, digits, "_", "." and "-", starting with a letter or digit, at most 63 characters',
  });

export const hostname = z
  .string({ error: 'expected a hostname' })
  .regex(/^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, {
    error: 'expected a hostname such as app.example.com',
  });

export const imageRef = z
  .string({ error: 'expected an image reference' })
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/i, { error: 'expected an image reference such as registry.example.com/team/app:1.2' });

export const nonNegativeInt = z.number({ error: 'expected a whole number' }).int({ error: 'expected a whole number' }).min(0, { error: 'expected a number >= 0' });

export const positiveNumber = z.number({ error: 'expected a number' }).positive({ error: 'expected a number > 0' });

/** Environment values may be written as numbers or booleans in YAML; Docker wants strings. */
export const envValue = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' }).transform(String);

export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)' });

/** User labels; the `coreflow.` prefix is reserved for ownership labels. */
export const userLabels = z.record(
  z.string().refine((k) => !k.startsWith('coreflow.'), { error: 'label keys starting with "coreflow." are reserved' }),
  z.string({ error: 'expected a string label value' }),
);

/** Whether image tags are resolved to registry digests (`always`) or deployed as written (`never`). */
export const imageResolveMode = z.enum(['always', 'never'], { error: 'expected "always" or "never"' });
