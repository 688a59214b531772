/**
 * `GET|POST P oauth2/authorize` (RFC 6749 §4.1, spec v1.15 "Authorization code grant"). GET checks the request
 * (oauth/authorization-request.ts) and shows the sign-in form, carrying the request sealed and bound to this
 * browser; POST takes the form (or the consent form, oauth/grant.ts) back.
 */
import type { ServerResponse } from "node:http";
import type { Handler } from "../routes/context.js";
import type { OAuthClient } from "../store/store.js";
import { type AuthorizationRequest, readAuthorizationRequest } from "./authorization-request.js";
import { bindingFor, boundToBrowser } from "./browser-binding.js";
import { clientHost, clientName } from "./client-name.js";
import { afterLogin, consentStep } from "./grant.js";
import { PageError, staleForm } from "./page-error.js";
import { readPageForm } from "./page-form.js";
import { html, sendPage, sendRedirect } from "./pages/html.js";
import { loginPage } from "./pages/login-page.js";
import type { Pages } from "./pages-context.js";
import { checkPassword } from "./password-step.js";
import { responseUrl } from "./redirect-uri.js";

export function createAuthorizeHandlers(pages: Pages): { get: Handler; post: Handler } {
  const { ctx } = pages;

  const showForm = (
    res: ServerResponse,
    status: number,
    client: OAuthClient,
    sealed: string,
    options: { username?: string; notice?: string; headers?: Record<string, string | string[]> } = {},
  ) => {
    const host = clientHost(client);
    const name = clientName(client);
    const body = loginPage(pages.site, {
      action: pages.authorizePath,
      heading: html`Sign in to ${pages.site.serverName}`,
      lede: html`to continue to <strong>${name}</strong>${host && host !== name ? html` <span class="host">(${host})</span>` : ""}`,
      sealed,
      username: options.username,
      notice: options.notice,
    });
    sendPage(res, status, body, { headers: options.headers });
  };

  const get: Handler = async (req, res) => {
    const params = new URL(req.url ?? "/", "http://gateway").searchParams;
    const read = await readAuthorizationRequest(params, ctx.store);
    if (!read.ok) {
      const { failure } = read;
      const location = responseUrl(failure.redirectUri, failure.responseMode, {
        error: failure.error,
        error_description: failure.description,
        state: failure.state,
        iss: pages.issuer,
      });
      return sendRedirect(res, location);
    }
    const binding = bindingFor(pages, req);
    const sealed = await pages.sealer.seal("authorize", { ...read.request, bind: binding.value }, pages.ttlMs);
    showForm(res, 200, read.client, sealed, { username: read.request.loginHint, headers: { "Set-Cookie": binding.setCookie } });
  };

  const post: Handler = async (req, res, info) => {
    const form = await readPageForm(req, ctx.config.http.max_json_body);
    if (form.has("grant")) return consentStep(pages, req, res, info, form);
    const sealed = form.get("request") ?? undefined;
    const payload = await pages.sealer.open("authorize", sealed);
    if (!payload || !boundToBrowser(payload.bind, req)) throw staleForm();
    const request = payload as unknown as AuthorizationRequest;
    const client = await ctx.store.getClient(request.clientId);
    if (!client) throw new PageError(400, "Unknown application", "The application that sent you here is no longer registered.");
    const username = (form.get("username") ?? "").trim();
    const password = form.get("password") ?? "";
    if (!username || !password) {
      return showForm(res, 200, client, sealed as string, { username, notice: "Enter your username and password." });
    }
    const outcome = await checkPassword(ctx, info.address, {
      user: username,
      password,
      deviceId: request.deviceId,
      deviceName: clientName(client),
    });
    if (!outcome.ok)
      return showForm(res, outcome.status, client, sealed as string, { username, notice: outcome.notice, headers: outcome.headers });
    await afterLogin(pages, res, request, client, outcome.verified, payload.bind as string);
  };

  return { get, post };
}
