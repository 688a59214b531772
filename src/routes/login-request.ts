/**
 * Reading a `POST …/login` body the way Synapse reads it, so that a client gets the same answer for the same
 * mistake with or without the gateway in front. The checks come in Synapse's order (v1.67
 * `synapse/rest/client/login.py` and `handlers/auth.py`, `validate_login`): the body must be an object →
 * `refresh_token` a boolean → `type` present → (the handler: an appservice login's token, then the address
 * limit) → `type` a string → for a password login the password a string, *before* the identifier → the
 * identifier → an unknown type. Where Synapse crashes (500) on a malformed identifier, the gateway answers 400.
 */
import { badJson, forbidden, invalidParam, MatrixError, missingJsonKeys, notJsonObject, unknownLoginType } from "../http/errors.js";

export const PASSWORD_LOGIN = "m.login.password";
/** The end of every SSO/CAS/OIDC redirect login and of `login/get_token` (spec, "Token-based login"). */
export const TOKEN_LOGIN = "m.login.token";
export const APPSERVICE_LOGIN = "m.login.application_service";

/** What every login carries besides its credential. */
interface LoginCommon {
  deviceId: string | undefined;
  initialDeviceDisplayName: string | undefined;
  wantsRefreshToken: boolean;
}

export type LoginRequest =
  | (LoginCommon & { type: typeof PASSWORD_LOGIN; user: string; password: string })
  | (LoginCommon & { type: typeof TOKEN_LOGIN; token: string });

/** The first checks, before any rate limit: a body Synapse refuses here does not count against the address. */
export interface LoginSubmission {
  fields: Record<string, unknown>;
  /** Present, any JSON value. */
  type: unknown;
  wantsRefreshToken: boolean;
}

export function readLoginSubmission(body: unknown): LoginSubmission {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw notJsonObject();
  const fields = body as Record<string, unknown>;
  // Synapse: `login_submission.get("refresh_token", False)` must be a bool (an explicit null is not).
  const wantsRefreshToken = "refresh_token" in fields ? fields.refresh_token : false;
  if (typeof wantsRefreshToken !== "boolean") throw new MatrixError(400, "M_UNKNOWN", "`refresh_token` should be true or false.");
  if (!("type" in fields)) throw missingJsonKeys();
  return { fields, type: fields.type, wantsRefreshToken };
}

/** The rest of the checks, once the address limit has counted the attempt. `accepted`: the types besides the password this gateway serves. */
export function parseLoginRequest(submission: LoginSubmission, accepted: ReadonlySet<string>): LoginRequest {
  const { fields, type, wantsRefreshToken } = submission;
  if (typeof type !== "string") throw invalidParam("type");
  for (const field of ["device_id", "initial_device_display_name"] as const) {
    if (fields[field] !== undefined && fields[field] !== null && typeof fields[field] !== "string") {
      throw badJson(`'${field}' must be a string`);
    }
  }
  const common: LoginCommon = {
    deviceId: (fields.device_id ?? undefined) as string | undefined,
    initialDeviceDisplayName: (fields.initial_device_display_name ?? undefined) as string | undefined,
    wantsRefreshToken,
  };
  if (type === TOKEN_LOGIN) {
    // Not advertised in this mode (the gateway checks passwords itself): a type it does not know.
    if (!accepted.has(TOKEN_LOGIN)) throw unknownLoginType(type);
    // Synapse reads `login_submission["token"]`: absent is its KeyError answer.
    if (!("token" in fields)) throw missingJsonKeys();
    if (typeof fields.token !== "string") throw forbidden("Invalid login token");
    return { ...common, type, token: fields.token };
  }
  const isPassword = type === PASSWORD_LOGIN;
  if (isPassword && typeof fields.password !== "string") throw invalidParam("password");
  const user = userOf(fields);
  if (!isPassword) throw unknownLoginType(type);
  return { ...common, type, user, password: fields.password as string };
}

/**
 * The user a password login names: Synapse's `convert_client_dict_legacy_fields` (a truthy legacy `user`
 * wins over `identifier`), then `m.id.user` only. Third-party identifiers (email, phone) are not served by
 * the gateway: Synapse's answer to an identifier type it has no handler for.
 */
function userOf(fields: Record<string, unknown>): string {
  let identifier: unknown = fields.identifier ?? {};
  if (fields.user) identifier = { type: "m.id.user", user: fields.user };
  if (!identifier || (typeof identifier === "object" && Object.keys(identifier).length === 0)) {
    throw new MatrixError(400, "M_INVALID_PARAM", "Invalid login submission");
  }
  // Synapse tests `"type" in identifier`, which for a string is a substring test.
  const hasType =
    typeof identifier === "string" ? identifier.includes("type") : Array.isArray(identifier) ? identifier.includes("type") : true;
  if (!hasType) throw new MatrixError(400, "M_MISSING_PARAM", "'identifier' dict has no key 'type'");
  // A number, a list or a string holding "type": Synapse crashes (500); the gateway says what is wrong.
  if (typeof identifier !== "object" || identifier === null || Array.isArray(identifier)) throw badJson("'identifier' must be an object");
  const dict = identifier as Record<string, unknown>;
  if (!("type" in dict)) throw new MatrixError(400, "M_MISSING_PARAM", "'identifier' dict has no key 'type'");
  if (dict.type !== "m.id.user") throw new MatrixError(400, "M_UNKNOWN", "Unknown login identifier type");
  if (!dict.user) throw new MatrixError(400, "M_UNKNOWN", "User identifier is missing 'user' key");
  // Synapse crashes on a user that is not a string (`'int' object has no attribute 'startswith'`).
  if (typeof dict.user !== "string") throw badJson("'user' must be a string");
  return dict.user;
}
