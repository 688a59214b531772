/**
 * The frame every browser page shares, and the headers that go with it. Pages are plain server-rendered HTML:
 * no script at all and one stylesheet from the gateway itself, which lets the CSP forbid everything else.
 */
import type { ServerResponse } from "node:http";

/** Where the pages live and whose they are. */
export interface PageSite {
  /** The path of public_baseurl, with its trailing slash ("/" usually). */
  basePath: string;
  serverName: string;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Tagged template: interpolated strings are escaped, `Html` values (already rendered) are not. */
export class Html {
  constructor(readonly text: string) {}
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] as string);
  return new Html(out);
}

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

export function stylesheetPath(site: PageSite): string {
  return `${site.basePath}oauth2/style.css`;
}

export function renderPage(site: PageSite, title: string, main: Html, options: { wide?: boolean } = {}): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · ${site.serverName}</title>
<link rel="stylesheet" href="${stylesheetPath(site)}">
</head>
<body>
<main class="${options.wide ? "card wide" : "card"}">
<p class="brand">${site.serverName}</p>
${main}
</main>
</body>
</html>
`.text;
}

/**
 * `formAction`: whether the CSP may also restrict where forms go. Not on the authorization pages: Chrome
 * applies `form-action` to the redirects that follow a form's POST, and the 303 to the client's redirect URI
 * (another origin, or an app's own scheme) would be blocked.
 */
export function sendPage(
  res: ServerResponse,
  status: number,
  body: string,
  options: { formAction?: boolean; headers?: Record<string, string | string[]> } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const csp = ["default-src 'none'", "style-src 'self'", "img-src 'self'", "base-uri 'none'", "frame-ancestors 'none'"];
  if (options.formAction) csp.push("form-action 'self'");
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
    "Content-Security-Policy": csp.join("; "),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    ...options.headers,
  });
  res.end(body);
}

/** A 303 (RFC 9110 §15.4.4: the browser follows with a GET), with the pages' headers. */
export function sendRedirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(303, {
    Location: location,
    "Content-Length": "0",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    ...headers,
  });
  res.end();
}
