/** The account page's views: the sessions list, one device, and the confirmation before ending a device's sessions. */
import { type Html, html, type PageSite, renderPage } from "./html.js";

/** One gateway session, as the account page shows it. */
export interface SessionRow {
  deviceId: string;
  /** The OAuth client's name, or "Password login" for `/login` sessions. */
  client: string;
  createdAt: number;
  /** When its refresh token was last rotated; undefined if never. */
  lastRefresh: number | undefined;
}

export interface AccountFrame {
  /** The account page's path. */
  path: string;
  userId: string;
  /** The CSRF token for the forms. */
  token: string;
}

/** "2026-01-01 12:00 UTC": the same for every reader, whatever their browser's zone. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function deviceLink(frame: AccountFrame, action: string, deviceId: string): string {
  return `${frame.path}?${new URLSearchParams({ action, device_id: deviceId })}`;
}

function header(site: PageSite, frame: AccountFrame, heading: Html | string): Html {
  return html`<div class="topline">
<h1>${heading}</h1>
<form method="post" action="${frame.path}">
<input type="hidden" name="op" value="signout">
<input type="hidden" name="token" value="${frame.token}">
<button type="submit" class="secondary">Sign out</button>
</form>
</div>
<p class="lede">Signed in as <strong>${frame.userId}</strong> on ${site.serverName}</p>`;
}

export function sessionsPage(site: PageSite, frame: AccountFrame, rows: SessionRow[], ended: string | undefined): string {
  const body = rows.length
    ? html`<table>
<thead><tr><th scope="col">Device</th><th scope="col">Application</th><th scope="col">Signed in</th><th scope="col">Last refresh</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>
${rows.map(
  (row) => html`<tr>
<td class="device"><code>${row.deviceId}</code></td>
<td>${row.client}</td>
<td class="time">${formatTime(row.createdAt)}</td>
<td class="time">${row.lastRefresh === undefined ? "never" : formatTime(row.lastRefresh)}</td>
<td class="actions"><a href="${deviceLink(frame, "org.matrix.device_view", row.deviceId)}">View</a><a href="${deviceLink(frame, "org.matrix.device_delete", row.deviceId)}">Sign out</a></td>
</tr>
`,
)}</tbody>
</table>`
    : html`<p>You have no active sessions.</p>`;
  return renderPage(
    site,
    "Your sessions",
    html`${header(site, frame, "Your sessions")}
${ended ? html`<p class="notice ok" role="status">Device <code>${ended}</code> was signed out.</p>` : ""}
${body}`,
    { wide: true },
  );
}

export function devicePage(site: PageSite, frame: AccountFrame, deviceId: string, rows: SessionRow[]): string {
  return renderPage(
    site,
    `Device ${deviceId}`,
    html`${header(site, frame, html`Device <code>${deviceId}</code>`)}
${rows.map(
  (row) => html`<dl class="facts">
<dt>Application</dt><dd>${row.client}</dd>
<dt>Signed in</dt><dd>${formatTime(row.createdAt)}</dd>
<dt>Last refresh</dt><dd>${row.lastRefresh === undefined ? "never" : formatTime(row.lastRefresh)}</dd>
</dl>
`,
)}
<div class="buttons">
<a class="button secondary" href="${frame.path}">All sessions</a>
<a class="button danger" href="${deviceLink(frame, "org.matrix.device_delete", deviceId)}">Sign out this device</a>
</div>`,
    { wide: true },
  );
}

export function confirmDeletePage(site: PageSite, frame: AccountFrame, deviceId: string, rows: SessionRow[], notice?: string): string {
  return renderPage(
    site,
    "Sign out a device",
    html`<h1>Sign out device <code>${deviceId}</code>?</h1>
<p class="lede">${rows.map((row) => row.client).join(", ")} · signed in ${formatTime(Math.min(...rows.map((row) => row.createdAt)))}</p>
<p>The application on this device will be signed out of ${site.serverName}. Enter your password to confirm.</p>
${notice ? html`<p class="notice error" role="alert">${notice}</p>` : ""}
<form method="post" action="${frame.path}">
<input type="hidden" name="op" value="delete">
<input type="hidden" name="token" value="${frame.token}">
<input type="hidden" name="device_id" value="${deviceId}">
<label for="password">Password for ${frame.userId}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<div class="buttons">
<a class="button secondary" href="${frame.path}">Cancel</a>
<button type="submit" class="danger">Sign out device</button>
</div>
</form>`,
  );
}
