/**
 * The pages' one stylesheet, served by the gateway at `P oauth2/style.css` (no build step, no third-party
 * font or asset: the CSP allows styles from the gateway only). Light and dark, following the system setting.
 */
import crypto from "node:crypto";
import type { Handler } from "../../routes/context.js";

const CSS = `:root {
  color-scheme: light dark;
  --bg: #f4f6f8;
  --card: #ffffff;
  --text: #17191c;
  --muted: #5c6470;
  --line: #dde1e6;
  --accent: #0b7a5c;
  --accent-text: #ffffff;
  --accent-hover: #096650;
  --danger: #c4293b;
  --danger-bg: #fdecee;
  --ok-bg: #e7f6f0;
  --focus: #2f7cf6;
  --radius: 12px;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #101215;
    --card: #1b1e23;
    --text: #eceef1;
    --muted: #a0a7b2;
    --line: #30353d;
    --accent: #2bb38a;
    --accent-text: #07140f;
    --accent-hover: #3cc69c;
    --danger: #ff6b7a;
    --danger-bg: #3a1b20;
    --ok-bg: #16302a;
  }
}
* { box-sizing: border-box; }
html { font-size: 16px; }
body {
  margin: 0;
  min-height: 100vh;
  display: flex;
  align-items: flex-start;
  justify-content: center;
  padding: 8vh 16px 32px;
  background: var(--bg);
  color: var(--text);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  line-height: 1.5;
}
.card {
  width: 100%;
  max-width: 420px;
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: var(--radius);
  padding: 32px 32px 28px;
  box-shadow: 0 1px 2px rgb(0 0 0 / 4%), 0 8px 24px rgb(0 0 0 / 6%);
}
.card.wide { max-width: 760px; }
.brand {
  margin: 0 0 20px;
  font-size: 0.8rem;
  font-weight: 600;
  letter-spacing: 0.08em;
  text-transform: uppercase;
  color: var(--accent);
}
h1 { margin: 0 0 8px; font-size: 1.45rem; line-height: 1.25; font-weight: 650; }
h1 .name { color: var(--accent); }
.lede { margin: 0 0 24px; color: var(--muted); }
p { margin: 0 0 16px; }
.fine { font-size: 0.85rem; color: var(--muted); margin-top: 20px; }
code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
label { display: block; margin: 16px 0 6px; font-weight: 600; font-size: 0.92rem; }
input[type="text"], input[type="password"] {
  display: block;
  width: 100%;
  padding: 10px 12px;
  font: inherit;
  color: var(--text);
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: 8px;
}
input:focus-visible, button:focus-visible, a:focus-visible {
  outline: 3px solid var(--focus);
  outline-offset: 2px;
}
button, .button {
  display: inline-block;
  font: inherit;
  font-weight: 600;
  padding: 10px 18px;
  border-radius: 8px;
  border: 1px solid transparent;
  cursor: pointer;
  text-decoration: none;
  text-align: center;
}
button.block { width: 100%; margin-top: 24px; }
.primary { background: var(--accent); color: var(--accent-text); }
.primary:hover { background: var(--accent-hover); }
.secondary { background: transparent; color: var(--text); border-color: var(--line); }
.secondary:hover { border-color: var(--muted); }
.danger { background: var(--danger); color: #ffffff; }
.buttons { display: flex; gap: 12px; justify-content: flex-end; margin-top: 24px; flex-wrap: wrap; }
.buttons > * { flex: 1 1 0; min-width: 120px; margin: 0; }
.buttons > .button, .buttons > button { display: inline-flex; align-items: center; justify-content: center; white-space: nowrap; }
.notice { padding: 10px 14px; border-radius: 8px; font-size: 0.95rem; }
.notice.error { background: var(--danger-bg); color: var(--danger); }
.notice.ok { background: var(--ok-bg); }
.facts {
  display: grid;
  grid-template-columns: max-content 1fr;
  gap: 8px 16px;
  margin: 0 0 20px;
  padding: 16px;
  border: 1px solid var(--line);
  border-radius: 8px;
}
.facts dt { color: var(--muted); font-size: 0.9rem; }
.facts dd { margin: 0; font-weight: 500; overflow-wrap: anywhere; }
.grants { margin: 0 0 16px; padding-left: 20px; }
.grants li { margin-bottom: 6px; }
table { width: 100%; border-collapse: collapse; margin: 8px 0 20px; font-size: 0.93rem; }
th, td { text-align: left; padding: 10px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th, td.time, td.device { white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 0.82rem; text-transform: uppercase; letter-spacing: 0.04em; }
td.actions { text-align: right; white-space: nowrap; }
td.actions a { margin-left: 12px; }
a { color: var(--accent); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.topline { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; flex-wrap: wrap; }
.topline form { margin: 0; }
.topline button { padding: 6px 12px; font-size: 0.9rem; }
@media (max-width: 520px) {
  body { padding-top: 16px; }
  .card { padding: 24px 20px; }
  th:nth-child(4), td:nth-child(4) { display: none; }
}
`;

const ETAG = `"${crypto.createHash("sha256").update(CSS).digest("base64url").slice(0, 16)}"`;

/** `GET P oauth2/style.css`: the same for a day, revalidated by its ETag. */
export const serveStylesheet: Handler = (req, res) => {
  const headers = {
    "Content-Type": "text/css; charset=utf-8",
    "Cache-Control": "public, max-age=86400",
    ETag: ETAG,
    "X-Content-Type-Options": "nosniff",
  };
  if (req.headers["if-none-match"] === ETAG) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "Content-Length": String(Buffer.byteLength(CSS)) });
  res.end(CSS);
};
