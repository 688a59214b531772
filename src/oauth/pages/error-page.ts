/** The page for every `PageError`, rendered by the router's `fail`. */
import type { ServerResponse } from "node:http";
import type { PageError } from "../page-error.js";
import { html, type PageSite, renderPage, sendPage } from "./html.js";

export function sendErrorPage(res: ServerResponse, site: PageSite, error: PageError): void {
  const body = renderPage(
    site,
    error.title,
    html`<h1>${error.title}</h1>
<p class="notice error" role="alert">${error.message}</p>`,
  );
  sendPage(res, error.status, body, { formAction: true, headers: error.headers });
}
