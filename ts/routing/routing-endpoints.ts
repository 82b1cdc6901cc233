import { bearerMatches } from '../server/bearer-auth.ts';
import { HttpError, sendJson } from '../server/http-router.ts';
import type { InternalServer } from '../server/internal-server.ts';
import type { LoadedSpec } from '../spec/parse.ts';
import { EDGE_PATH } from './edge-hub.ts';
import type { RoutingController } from './routing-controller.ts';
import { traefikConfig } from './traefik-config.ts';

export const TRAEFIK_PATH = '/v1/traefik';
export const ROUTING_STATUS_PATH = '/v1/routing';

/**
 * Registers routing's endpoints on the internal server:
 * - WS  /v1/edge     edge proxies (token-authenticated, see EdgeHub)
 * - GET /v1/traefik  the table in Traefik's dynamic-config format (404 unless routing.traefik.enabled;
 *                    with includeCertificates it needs `Authorization: Bearer <edge token>`); 503 before the first build
 * - GET /v1/routing  the table without key material, and its problems
 */
export function registerRoutingEndpoints(
  server: InternalServer,
  controller: RoutingController,
  opts: { desired: () => LoadedSpec | undefined; edgeToken: string | undefined },
): void {
  server.onUpgrade(EDGE_PATH, controller.edge.handleUpgrade);
  server.router.add('GET', TRAEFIK_PATH, (req, res) => {
    const routing = opts.desired()?.spec.routing;
    if (!routing?.enabled || !routing.traefik.enabled) throw new HttpError(404, 'the Traefik endpoint is off (routing.traefik.enabled)');
    if (routing.traefik.includeCertificates && !bearerMatches(req.headers.authorization, opts.edgeToken)) {
      throw new HttpError(401, 'this endpoint serves private keys: send Authorization: Bearer <COREFLOW_EDGE_TOKEN>');
    }
    const current = controller.current;
    if (!current) throw new HttpError(503, 'no route table built yet');
    sendJson(res, 200, traefikConfig(current.table.routes, { includeCertificates: routing.traefik.includeCertificates }));
  });
  server.router.add('GET', ROUTING_STATUS_PATH, (_req, res) => {
    const status = controller.status;
    if (!status) throw new HttpError(503, 'no route table built yet');
    sendJson(res, 200, status);
  });
}
