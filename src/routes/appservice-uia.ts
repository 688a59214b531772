/**
 * Appservice identity mode lends the homeserver's application-service trust to every request, and a
 * homeserver skips user-interactive auth (UIA) for an application service. So for the endpoints it would
 * protect with UIA (routes/uia-endpoints.ts) the gateway runs UIA itself, as the spec describes it
 * (Client-Server API, "User-interactive authentication API"), with one stage: `m.login.password`, checked
 * against the users file for the session's own user, under the login failure limits. Only then is the
 * request forwarded, without its `auth`, with the `as_token` asserting the user — also for a session with
 * a homeserver device, whose token would meet the homeserver's own UIA with a password it does not know.
 *
 * The UIA session is stateless: the password is checked in the same request that performs the action, so
 * nothing needs remembering between the `401` and the retry. The `session` id is therefore fresh random
 * (or the client's own, handed back, so that a client comparing them sees the one it is using).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ActiveSession } from "../auth/sessions.js";
import { readJsonBody } from "../http/body.js";
import { badJson, forbidden, MatrixError } from "../http/errors.js";
import { sendJson, setHeaders } from "../http/respond.js";
import type { RateLimitHeaders } from "../ratelimit/policies.js";
import { appserviceAssertion } from "../upstream/identity.js";
import type { RequestInfo, RouteContext } from "./context.js";
import { PASSWORD_LOGIN, parseLoginRequest, readLoginSubmission } from "./login-request.js";
import { type FencedEndpoint, fencedEndpoint } from "./uia-endpoints.js";

/** The one flow the gateway offers: the users file holds passwords and nothing else. */
const FLOWS = [{ stages: ["m.login.password"] }];
const SESSION_ID_BYTES = 16;
/** A client's `session` longer than this, or not printable ASCII, is not handed back: a fresh one is. */
const MAX_SESSION_LENGTH = 255;
const PRINTABLE = /^[\x21-\x7e]+$/;
/** UIA here has one stage, `m.login.password`: no other login type is read from `auth`. */
const ONLY_PASSWORDS: ReadonlySet<string> = new Set();

/**
 * Called for every authenticated request of a session: `undefined` when the endpoint is not fenced (the
 * caller forwards as usual), else the promise of the fenced request's whole answer.
 */
export type UiaFence = (
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
  url: string,
  session: ActiveSession,
  limitHeaders: RateLimitHeaders,
) => Promise<void> | undefined;

/** The fence of appservice identity mode; `undefined` in `session_token` mode, where the homeserver runs its own UIA. */
export function createUiaFence(ctx: RouteContext): UiaFence | undefined {
  const { config, checkPassword, rateLimits, forwarder, sessions, logger, random } = ctx;
  if (config.upstream_identity.mode !== "appservice") return undefined;
  const asToken = config.upstream_identity.as_token as string;
  const maxBody = config.http.max_json_body;

  const sessionId = (auth: unknown): string => {
    const given = isObject(auth) ? auth.session : undefined;
    if (typeof given === "string" && given.length <= MAX_SESSION_LENGTH && PRINTABLE.test(given)) return given;
    return random(SESSION_ID_BYTES).toString("base64url");
  };

  const authenticate = async (
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    url: string,
    session: ActiveSession,
    endpoint: FencedEndpoint,
    limitHeaders: RateLimitHeaders,
  ): Promise<void> => {
    // The gateway's own answers carry what a forwarded one would (the router sets these only for its own endpoints).
    res.setHeader("X-Request-Id", info.requestId);
    setHeaders(res, limitHeaders);
    if (endpoint.action === "refuse") {
      req.resume();
      throw forbidden("The password is managed by the gateway's operator and cannot be changed here");
    }
    // A gateway built with a credentials source of its own (tests, embedding) has no users file to ask: fail closed.
    if (checkPassword === undefined) {
      req.resume();
      throw forbidden("This gateway cannot confirm your identity for this request");
    }
    const body = await readJsonBody(req, maxBody, {});
    if (!isObject(body)) throw badJson("Request body must be a JSON object");
    const { auth, ...rest } = body;
    // No `auth`, or one with only a `session` (a client asking where it stands): the stages to complete.
    if (auth === undefined || (isObject(auth) && auth.type === undefined)) {
      sendJson(res, 401, { flows: FLOWS, params: {}, session: sessionId(auth) });
      return;
    }
    if (!isObject(auth)) throw badJson("'auth' must be an object");
    if (auth.type !== "m.login.password") throw uiaFailed("M_UNRECOGNIZED", "Unrecognised authentication type", sessionId(auth));
    // `identifier: {type: m.id.user, user}` or the legacy `user`, and `password`: the login body's own checks.
    const request = parseLoginRequest(readLoginSubmission(auth), ONLY_PASSWORDS);
    if (request.type !== PASSWORD_LOGIN) throw uiaFailed("M_UNRECOGNIZED", "Unrecognised authentication type", sessionId(auth));
    const { user, password } = request;
    const named = user.startsWith("@") ? user : `@${user}:${config.server_name}`;
    if (named.toLowerCase() !== session.userId.toLowerCase()) throw forbidden("You can only confirm your own identity");

    // The failed-login limits of the account, shared with login: UIA must not become a way around them to guess
    // passwords. Counted as failed in advance (an error of the check itself stays counted: it fails safe).
    await rateLimits.reauthAllowed(info.address, session.userId);
    if (!(await checkPassword(session.userId, password))) {
      logger.info({ event: "uia_failed", user_id: session.userId, endpoint: endpoint.name }, "user-interactive auth refused");
      throw uiaFailed("M_FORBIDDEN", "Invalid password", sessionId(auth));
    }
    await rateLimits.loginSucceeded(info.address, session.userId);
    logger.info({ event: "uia", user_id: session.userId, endpoint: endpoint.name }, "user-interactive auth passed");

    if (endpoint.endsSessions) {
      res.once("finish", () => {
        if (res.statusCode !== 200) return;
        sessions.revokeUser(session.userId).then(
          (ended) => logger.info({ event: "account_deactivated", user_id: session.userId, sessions: ended.length }, "sessions revoked"),
          (error: unknown) =>
            logger.error({ err: error, user_id: session.userId }, "revoking the sessions of a deactivated account failed"),
        );
      });
    }
    const credential = appserviceAssertion(asToken, session.userId, url);
    req.headers["content-type"] = "application/json"; // the body is the gateway's JSON now, whatever the client sent
    forwarder.forward(req, res, {
      url: credential.url,
      upstreamToken: credential.token,
      info,
      maxBodyBytes: maxBody,
      responseHeaders: limitHeaders,
      body: Buffer.from(JSON.stringify(rest)),
    });
  };

  return (req, res, info, url, session, limitHeaders) => {
    const endpoint = fencedEndpoint(req.method as string, info.path);
    return endpoint === undefined ? undefined : authenticate(req, res, info, url, session, endpoint, limitHeaders);
  };
}

/** A stage that failed (spec: the `401` again, with `completed` and the error). */
function uiaFailed(errcode: string, message: string, session: string): MatrixError {
  return new MatrixError(401, errcode, message, { completed: [], flows: FLOWS, params: {}, session });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
