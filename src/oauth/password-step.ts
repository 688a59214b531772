/**
 * A password typed into one of the pages, checked like `POST …/login` (routes/password-login.ts: the same
 * credentials source, rate limits and audit lines). The outcome is what the page shows next: the session's
 * credential, or the form again with a message.
 */
import type { VerifiedLogin } from "../credentials/upstream-login.js";
import { MatrixError } from "../http/errors.js";
import type { RouteContext } from "../routes/context.js";
import { passwordLogin } from "../routes/password-login.js";

export type PasswordOutcome =
  | { ok: true; verified: VerifiedLogin }
  | { ok: false; status: number; notice: string; headers: Record<string, string> };

export async function checkPassword(
  ctx: RouteContext,
  address: string,
  attempt: { user: string; password: string; deviceId: string | undefined; deviceName: string | undefined },
): Promise<PasswordOutcome> {
  try {
    // Counted against the address first, as a `POST …/login` is.
    await ctx.rateLimits.loginAttempt(address);
    const verified = await passwordLogin(
      ctx,
      { user: attempt.user, password: attempt.password, deviceId: attempt.deviceId, initialDeviceDisplayName: attempt.deviceName },
      address,
    );
    return { ok: true, verified };
  } catch (error) {
    if (!(error instanceof MatrixError)) throw error;
    return { ok: false, ...refusal(error) };
  }
}

/**
 * Status of the form shown again. A wrong password is 200, not 401: the page is an ordinary form that
 * reports a mistake (RFC 9110 §15.5.2 ties 401 to a `WWW-Authenticate` challenge, which a form has none of).
 */
function refusal(error: MatrixError): { status: number; notice: string; headers: Record<string, string> } {
  if (error.status === 429) {
    const seconds = error.headers["Retry-After"] ?? "60";
    return {
      status: 429,
      notice: `Too many attempts. Try again in ${seconds} s.`,
      headers: { "Retry-After": seconds },
    };
  }
  if (error.errcode === "M_USER_DEACTIVATED") return { status: 200, notice: "This account has been deactivated.", headers: {} };
  if (error.status === 403 || error.status === 401) return { status: 200, notice: "Wrong username or password.", headers: {} };
  if (error.status < 500) return { status: 400, notice: error.message, headers: {} };
  return { status: 502, notice: "The server could not check your password just now. Try again in a moment.", headers: {} };
}
