/**
 * Client registration refuses redirect URIs a client cannot own (MSC2966, "Redirect URI validation"):
 * a web client's redirect must be https on client_uri's host or a subdomain, no redirect URI may carry
 * a fragment (RFC 6749 §3.1.2), a native app's private-use scheme is the reverse DNS of client_uri's
 * host. Those answer `400 invalid_redirect_uri`; other bad metadata `400 invalid_client_metadata`.
 */
import t from "tap";
import { LOOPBACK_CLIENT, registerClient, startOAuthGateway } from "../helpers/oauth-gateway.js";

const WEB = {
  client_name: "Web client",
  client_uri: "https://app.example.com/",
  application_type: "web",
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
};

t.test("redirect URIs the client cannot own: 400 invalid_redirect_uri", async (t) => {
  const gw = await startOAuthGateway(t);
  const refused: [string, Record<string, unknown>][] = [
    ["a web redirect on another host", { ...WEB, redirect_uris: ["https://evil.example.net/callback"] }],
    ["a web redirect on a host that only ends like client_uri's", { ...WEB, redirect_uris: ["https://notapp.example.com/callback"] }],
    ["a web redirect over http", { ...WEB, redirect_uris: ["http://app.example.com/callback"] }],
    ["a redirect with a fragment", { ...WEB, redirect_uris: ["https://app.example.com/callback#frag"] }],
    ["a loopback redirect with a fragment", { ...LOOPBACK_CLIENT, redirect_uris: ["http://127.0.0.1/callback#x"] }],
    ["a private-use scheme of another host", { ...LOOPBACK_CLIENT, redirect_uris: ["net.example.evil:/callback"] }],
  ];
  for (const [what, metadata] of refused) {
    const reply = await registerClient(gw, metadata);
    t.match(reply, { status: 400, body: { error: "invalid_redirect_uri" } }, what);
  }
});

t.test("other bad metadata: 400 invalid_client_metadata", async (t) => {
  const gw = await startOAuthGateway(t);
  const refused: [string, Record<string, unknown>][] = [
    [
      "a client secret method",
      { ...WEB, redirect_uris: ["https://app.example.com/cb"], token_endpoint_auth_method: "client_secret_basic" },
    ],
    ["an http client_uri", { ...WEB, client_uri: "http://app.example.com/", redirect_uris: ["https://app.example.com/cb"] }],
  ];
  for (const [what, metadata] of refused) {
    const reply = await registerClient(gw, metadata);
    t.match(reply, { status: 400, body: { error: "invalid_client_metadata" } }, what);
  }
});

t.test("what a client may register: 201 with a client_id", async (t) => {
  const gw = await startOAuthGateway(t);
  const accepted: [string, Record<string, unknown>][] = [
    ["a web redirect on client_uri's host", { ...WEB, redirect_uris: ["https://app.example.com/callback"] }],
    ["a web redirect on a subdomain", { ...WEB, redirect_uris: ["https://login.app.example.com/callback"] }],
    ["a loopback redirect without a port", { ...LOOPBACK_CLIENT }],
    ["a private-use scheme of client_uri's host", { ...LOOPBACK_CLIENT, redirect_uris: ["com.example.client:/callback"] }],
  ];
  for (const [what, metadata] of accepted) {
    const reply = await registerClient(gw, metadata);
    t.match(reply, { status: 201, body: { client_id: String, redirect_uris: metadata.redirect_uris } }, what);
  }
});
