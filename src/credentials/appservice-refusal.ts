/**
 * What a login answers when the homeserver refuses one of the gateway's own appservice calls (registering
 * the user, logging them in): always `502`, since the client did nothing wrong. The refusal is logged, with
 * the homeserver's status and errcode, for the operator (whose registration or namespace it usually is).
 */
import { MatrixError, upstreamFailed } from "../http/errors.js";
import type { Logger } from "../observability/log.js";
import type { UpstreamReply } from "../upstream/client.js";

export function appserviceRefusal(reply: UpstreamReply, userId: string, logger: Logger, what: string, clientMessage: string): MatrixError {
  logger.error({ status: reply.status, errcode: reply.body.errcode, user_id: userId }, `${what} failed`);
  // The homeserver's own refusal (a Matrix error) says so; anything else is a broken answer.
  if (reply.status >= 400 && reply.status < 500 && typeof reply.body.errcode === "string")
    return new MatrixError(502, "M_UNKNOWN", clientMessage);
  return upstreamFailed();
}
