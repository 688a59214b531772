/**
 * `GET|POST P account/`: the `account_management_uri` (spec v1.15, MSC4191). The user signs in with the same
 * form and limits as the authorization page, then sees the gateway sessions of their account and can end those
 * of a device (after typing the password again), which also logs the homeserver device out.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestInfo } from "../http/request-info.js";
import type { Handler } from "../routes/context.js";
import { logoutUpstream } from "../routes/logout.js";
import type { SessionRecord } from "../store/store.js";
import { type AccountAction, accountQuery, readAccountAction } from "./account-action.js";
import {
  type AccountSession,
  accountSessionCookie,
  formToken,
  openAccountSession,
  signedOutCookie,
  validFormToken,
} from "./account-session.js";
import { bindingFor, boundToBrowser } from "./browser-binding.js";
import { clientName } from "./client-name.js";
import { PageError, staleForm } from "./page-error.js";
import { readPageForm } from "./page-form.js";
import { type AccountFrame, confirmDeletePage, devicePage, type SessionRow, sessionsPage } from "./pages/account-pages.js";
import { html, sendPage, sendRedirect } from "./pages/html.js";
import { loginPage } from "./pages/login-page.js";
import type { Pages } from "./pages-context.js";
import { checkPassword } from "./password-step.js";

/** What the homeserver device made by the account page's own sign-in is called (it is logged out at once). */
const ACCOUNT_DEVICE_NAME = "Account page";

export function createAccountHandlers(pages: Pages): { get: Handler; post: Handler } {
  const { ctx } = pages;
  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}) =>
    sendPage(res, status, body, { formAction: true, headers });

  const showLogin = (
    res: ServerResponse,
    status: number,
    sealed: string,
    options: { username?: string; notice?: string; headers?: Record<string, string | string[]> } = {},
  ) =>
    send(
      res,
      status,
      loginPage(pages.site, {
        action: pages.accountPath,
        heading: html`Sign in to manage your account on ${pages.site.serverName}`,
        sealed,
        username: options.username,
        notice: options.notice,
      }),
      options.headers,
    );

  /** The session's rows on `deviceId` (every device when undefined), newest first. */
  const rowsOf = async (userId: string, deviceId?: string): Promise<SessionRow[]> => {
    const sessions = (await ctx.sessions.list(userId)).filter((s) => deviceId === undefined || s.deviceId === deviceId);
    sessions.sort((a, b) => b.createdAt - a.createdAt);
    return Promise.all(sessions.map(rowOf));
  };
  const rowOf = async (session: SessionRecord): Promise<SessionRow> => {
    const client = session.oauth ? await ctx.store.getClient(session.oauth.clientId) : undefined;
    const refreshedAt = session.refresh?.currentIssuedAt;
    return {
      deviceId: session.deviceId,
      client: session.oauth ? (client ? clientName(client) : session.oauth.clientId) : "Password login",
      createdAt: session.createdAt,
      lastRefresh: refreshedAt !== undefined && refreshedAt > session.createdAt ? refreshedAt : undefined,
    };
  };
  const frameOf = async (session: AccountSession): Promise<AccountFrame> => ({
    path: pages.accountPath,
    userId: session.userId,
    token: await formToken(pages, session),
  });
  const noSuchDevice = (deviceId: string) =>
    new PageError(404, "No such device", `You have no session on device ${deviceId}. It may have been signed out already.`);

  const show = async (res: ServerResponse, session: AccountSession, action: AccountAction, ended: string | undefined) => {
    const frame = await frameOf(session);
    if (action.kind === "list") return send(res, 200, sessionsPage(pages.site, frame, await rowsOf(session.userId), ended));
    const rows = await rowsOf(session.userId, action.deviceId);
    if (!rows.length) throw noSuchDevice(action.deviceId);
    if (action.kind === "view") return send(res, 200, devicePage(pages.site, frame, action.deviceId, rows));
    return send(res, 200, confirmDeletePage(pages.site, frame, action.deviceId, rows));
  };

  const get: Handler = async (req, res) => {
    const params = new URL(req.url ?? "/", "http://gateway").searchParams;
    const action = readAccountAction(params.get("action"), params.get("device_id"));
    const session = await openAccountSession(pages, req);
    if (session) return show(res, session, action, params.get("ended") ?? undefined);
    const binding = bindingFor(pages, req);
    const sealed = await pages.sealer.seal("account-login", { action, bind: binding.value }, pages.ttlMs);
    showLogin(res, 200, sealed, { headers: { "Set-Cookie": binding.setCookie } });
  };

  const signIn = async (req: IncomingMessage, res: ServerResponse, info: RequestInfo, form: URLSearchParams) => {
    const sealed = form.get("request") ?? undefined;
    const payload = await pages.sealer.open("account-login", sealed);
    if (!payload || !boundToBrowser(payload.bind, req)) throw staleForm();
    const username = (form.get("username") ?? "").trim();
    const password = form.get("password") ?? "";
    if (!username || !password) return showLogin(res, 200, sealed as string, { username, notice: "Enter your username and password." });
    const outcome = await checkPassword(ctx, info.address, {
      user: username,
      password,
      deviceId: undefined,
      deviceName: ACCOUNT_DEVICE_NAME,
    });
    if (!outcome.ok)
      return showLogin(res, outcome.status, sealed as string, { username, notice: outcome.notice, headers: outcome.headers });
    // Only the password check was needed: the homeserver session it made is not kept.
    await logoutUpstream(ctx, outcome.verified.upstreamToken, "/logout", info.address);
    ctx.logger.info({ event: "account_page_login", user_id: outcome.verified.userId }, "signed in on the account page");
    const action = payload.action as AccountAction;
    sendRedirect(res, `${pages.accountPath}${accountQuery(action)}`, {
      "Set-Cookie": await accountSessionCookie(pages, outcome.verified.userId),
    });
  };

  const endDevice = async (res: ServerResponse, info: RequestInfo, session: AccountSession, form: URLSearchParams) => {
    const deviceId = form.get("device_id") ?? "";
    const rows = await rowsOf(session.userId, deviceId);
    if (!rows.length) throw noSuchDevice(deviceId);
    const outcome = await checkPassword(ctx, info.address, {
      user: session.userId,
      password: form.get("password") ?? "",
      deviceId: undefined,
      deviceName: ACCOUNT_DEVICE_NAME,
    });
    if (!outcome.ok) {
      const page = confirmDeletePage(pages.site, await frameOf(session), deviceId, rows, outcome.notice);
      return send(res, outcome.status, page, outcome.headers);
    }
    await logoutUpstream(ctx, outcome.verified.upstreamToken, "/logout", info.address);
    const ended = (await ctx.sessions.list(session.userId)).filter((s) => s.deviceId === deviceId);
    for (const record of ended) {
      await ctx.sessions.revoke(record.id);
      // The homeserver's logout deletes the device (every token of it); a second one answers 401, which is fine.
      await logoutUpstream(ctx, record.upstreamToken, "/logout", info.address);
    }
    ctx.logger.info(
      { event: "account_device_signed_out", user_id: session.userId, device_id: deviceId, sessions: ended.length },
      "device signed out on the account page",
    );
    sendRedirect(res, `${pages.accountPath}?${new URLSearchParams({ action: "org.matrix.devices_list", ended: deviceId })}`);
  };

  const post: Handler = async (req, res, info) => {
    const form = await readPageForm(req, ctx.config.http.max_json_body);
    if (form.has("request")) return signIn(req, res, info, form);
    const session = await openAccountSession(pages, req);
    if (!session || !(await validFormToken(pages, session, form.get("token")))) throw staleForm();
    const op = form.get("op");
    if (op === "signout") return sendRedirect(res, pages.accountPath, { "Set-Cookie": signedOutCookie(pages) });
    if (op === "delete") return endDevice(res, info, session, form);
    throw new PageError(400, "Unknown request", "The form asked for something this page does not do.");
  };

  return { get, post };
}
