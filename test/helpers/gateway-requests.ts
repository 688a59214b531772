/**
 * What reached the gateway: method, path (without the query) and the status it answered, in order.
 * For tests that assert which URLs a real client called (discovery paths, token endpoint, …).
 */
import type http from "node:http";
import type { TestGateway } from "./gateway.js";

export interface GatewayRequest {
  method: string;
  path: string;
  status?: number;
}

export function recordGatewayRequests(gw: TestGateway): GatewayRequest[] {
  const seen: GatewayRequest[] = [];
  gw.gateway.server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry: GatewayRequest = { method: req.method ?? "", path: (req.url ?? "").split("?")[0] ?? "" };
    seen.push(entry);
    res.once("finish", () => {
      entry.status = res.statusCode;
    });
  });
  return seen;
}
