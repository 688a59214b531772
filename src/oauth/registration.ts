/**
 * `POST P oauth2/registration`: OAuth 2.0 dynamic client registration (RFC 7591 §3, MSC2966). Every client is
 * public (no secret); its `client_id` is random and the metadata is kept in the store for good (it survives
 * restarts and is shared by every instance on the same store). Rate-limited per address
 * (`rate_limits.oauth_registration`).
 */
import { readJsonBody } from "../http/body.js";
import { sendJson } from "../http/respond.js";
import type { Handler, RouteContext } from "../routes/context.js";
import { validateClientMetadata } from "./client-metadata.js";
import { oauthJsonHandler } from "./json-handler.js";

const CLIENT_ID_BYTES = 16;

export function createRegistrationHandler(ctx: RouteContext): Handler {
  const { config, rateLimits, store, clock, random, logger } = ctx;
  const handler: Handler = async (req, res, info) => {
    const limitHeaders = await rateLimits.oauthRegistration(info.address);
    const metadata = validateClientMetadata(await readJsonBody(req, config.http.max_json_body));
    const now = clock.now();
    const clientId = random(CLIENT_ID_BYTES).toString("hex");
    await store.saveClient({ id: clientId, metadata, createdAt: now });
    logger.info({ event: "oauth_client_registered", client_id: clientId, client_uri: metadata.client_uri }, "OAuth client registered");
    // RFC 7591 §3.2.1: the client's id and every registered field, defaults included.
    sendJson(res, 201, { client_id: clientId, client_id_issued_at: Math.floor(now / 1000), ...metadata }, limitHeaders);
  };
  return oauthJsonHandler(handler, "invalid_client_metadata");
}
