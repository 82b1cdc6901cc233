import { z } from 'zod';

/** The `dns` section: DNS records kept in step with routed domains (filled by the DNS work). */
export const dnsSchema = z.strictObject({}).optional();
