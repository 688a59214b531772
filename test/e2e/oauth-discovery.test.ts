/**
 * Discovery as every client finds it: the same RFC 8414 document at both Matrix paths (spec v1.15 and
 * MSC2965's unstable one), at `{issuer}.well-known/openid-configuration` and at
 * `/.well-known/oauth-authorization-server`, readable cross-origin; every endpoint it names exists
 * (nothing unimplemented is advertised); and without `oauth.enabled` the Matrix paths answer
 * `404 M_UNRECOGNIZED`, which tells matrix-js-sdk to fall back to the password login.
 */
import t from "tap";
import { startGateway } from "../helpers/gateway.js";
import { startOAuthGateway } from "../helpers/oauth-gateway.js";

const PATHS = [
  "/_matrix/client/v1/auth_metadata",
  "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
  "/.well-known/openid-configuration",
  "/.well-known/oauth-authorization-server",
];
const ORIGIN = "https://app.example.com";

t.test("one document at the four discovery paths, with CORS", async (t) => {
  const gw = await startOAuthGateway(t);
  const documents: any[] = [];
  for (const path of PATHS) {
    const reply = await gw.request(path, { headers: { Origin: ORIGIN } });
    t.equal(reply.status, 200, path);
    t.match(reply.headers.get("content-type"), /^application\/json/, `${path}: JSON`);
    t.ok(reply.headers.get("access-control-allow-origin"), `${path}: readable cross-origin`);
    documents.push(reply.body);
  }
  for (const document of documents.slice(1)) t.same(document, documents[0], "the same document everywhere");
  const base = gw.issuer;
  t.match(documents[0], {
    issuer: base,
    authorization_endpoint: `${base}oauth2/authorize`,
    token_endpoint: `${base}oauth2/token`,
    registration_endpoint: `${base}oauth2/registration`,
    revocation_endpoint: `${base}oauth2/revoke`,
    jwks_uri: `${base}oauth2/keys.json`,
    account_management_uri: `${base}account/`,
  });
  t.same(
    Object.fromEntries(
      [
        "response_types_supported",
        "response_modes_supported",
        "grant_types_supported",
        "code_challenge_methods_supported",
        "token_endpoint_auth_methods_supported",
        "id_token_signing_alg_values_supported",
      ].map((key) => [key, documents[0][key]]),
    ),
    {
      response_types_supported: ["code"],
      response_modes_supported: ["query", "fragment"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
      id_token_signing_alg_values_supported: ["RS256"],
    },
  );
  t.same(
    [...(documents[0].account_management_actions_supported ?? [])].sort(),
    ["org.matrix.device_delete", "org.matrix.device_view", "org.matrix.devices_list"],
    "only the account actions the page implements",
  );
  t.notOk("device_authorization_endpoint" in documents[0], "no device grant (not in this step)");
  t.notOk(documents[0].prompt_values_supported?.includes("create"), "no prompt=create (not in this step)");

  const jwks = await gw.request("/oauth2/keys.json", { headers: { Origin: ORIGIN } });
  t.equal(jwks.status, 200);
  t.equal(jwks.body.keys?.length, 1, "one ID-token key");
  t.match(jwks.body.keys?.[0], { kty: "RSA", n: String, e: "AQAB" });
  t.notOk("d" in (jwks.body.keys?.[0] ?? {}), "never the private part");
  t.ok(jwks.headers.get("access-control-allow-origin"));

  // Every URL the document names is served by the gateway (a 404 would be advertising the unimplemented).
  for (const [key, value] of Object.entries(documents[0])) {
    if (!key.endsWith("_endpoint") && !key.endsWith("_uri")) continue;
    const url = new URL(value as string);
    t.equal(url.origin, new URL(base).origin, `${key} is on the gateway`);
    const reply = await gw.request(url.pathname, {
      method: key.endsWith("_endpoint") && key !== "authorization_endpoint" ? "POST" : "GET",
    });
    t.not(reply.status, 404, `${key} (${url.pathname}) exists`);
  }
});

t.test("the endpoints called cross-origin answer preflights", async (t) => {
  const gw = await startOAuthGateway(t);
  for (const path of ["/oauth2/registration", "/oauth2/token", "/oauth2/revoke"]) {
    const reply = await gw.request(path, {
      method: "OPTIONS",
      headers: { Origin: ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    t.ok(reply.status === 200 || reply.status === 204, `${path}: preflight answered (${reply.status})`);
    t.ok(reply.headers.get("access-control-allow-origin"), `${path}: allows the origin`);
    t.match(reply.headers.get("access-control-allow-methods") ?? "", /POST/, `${path}: allows POST`);
  }
});

t.test("without oauth.enabled both Matrix discovery paths answer 404 M_UNRECOGNIZED", async (t) => {
  const gw = await startGateway(t);
  for (const path of PATHS.slice(0, 2)) {
    const reply = await gw.request(path);
    t.match(reply, { status: 404, body: { errcode: "M_UNRECOGNIZED" } }, path);
  }
  t.same(
    gw.homeserver.received.filter((r) => r.url.includes("auth_metadata")),
    [],
    "the homeserver was not asked: its answer would describe the wrong server",
  );
});
