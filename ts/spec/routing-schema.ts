import { z } from 'zod';

/** The `routing` section: how the route table reaches edge proxies (filled by the routing work). */
export const routingSchema = z.strictObject({}).prefault({});
