/**
 * Discovery (RFC 8414, MSC2965, spec v1.15 auth_metadata): the same document on every path, with CORS and a
 * short cache lifetime; 404 M_UNRECOGNIZED on the Matrix paths while OAuth is off; the ID-token JWKS.
 */
import t from "tap";
import { startGateway, testConfig } from "../helpers/gateway.js";
import { ISSUER, startOAuthGateway, writeKeyFile } from "../helpers/oauth.js";

const METADATA = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}oauth2/authorize`,
  token_endpoint: `${ISSUER}oauth2/token`,
  registration_endpoint: `${ISSUER}oauth2/registration`,
  revocation_endpoint: `${ISSUER}oauth2/revoke`,
  jwks_uri: `${ISSUER}oauth2/keys.json`,
  response_types_supported: ["code"],
  response_modes_supported: ["query", "fragment"],
  grant_types_supported: ["authorization_code", "refresh_token"],
  code_challenge_methods_supported: ["S256"],
  token_endpoint_auth_methods_supported: ["none"],
  id_token_signing_alg_values_supported: ["RS256"],
  account_management_uri: `${ISSUER}account/`,
  account_management_actions_supported: ["org.matrix.devices_list", "org.matrix.device_view", "org.matrix.device_delete"],
};

const PATHS = [
  "/_matrix/client/v1/auth_metadata",
  "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
  "/.well-known/openid-configuration",
  "/.well-known/oauth-authorization-server",
];

t.test("the metadata document on every discovery path, with CORS, cacheable for a minute", async (t) => {
  const gw = await startOAuthGateway(t);
  for (const path of PATHS) {
    const reply = await gw.request(path);
    t.equal(reply.status, 200, path);
    t.same(reply.body, METADATA, path);
    t.equal(reply.headers.get("access-control-allow-origin"), "*", path);
    t.equal(reply.headers.get("cache-control"), "public, max-age=60", path);
  }
  const preflight = await gw.request(PATHS[0] as string, { method: "OPTIONS" });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get("access-control-allow-origin"), "*");
  t.equal(gw.homeserver.received.length, 0, "the homeserver is never asked");
});

t.test("a public_baseurl with a path: endpoints under it, RFC 8414's path-suffixed well-known", async (t) => {
  const keyFile = writeKeyFile(t);
  const base = "https://example.org/auth/";
  const gw = await startGateway(t, { yaml: `public_baseurl: ${base}\noauth: {enabled: true, signing_key_file: "${keyFile}"}` });
  for (const path of [
    "/_matrix/client/v1/auth_metadata",
    "/auth/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server/auth",
  ]) {
    const reply = await gw.request(path);
    t.equal(reply.status, 200, path);
    t.equal(reply.body.issuer, base, path);
    t.equal(reply.body.token_endpoint, `${base}oauth2/token`, path);
    t.equal(reply.body.account_management_uri, `${base}account/`, path);
  }
  t.equal((await gw.request("/.well-known/openid-configuration")).status, 404, "not at the root: the issuer has a path");
  t.equal((await gw.request("/auth/oauth2/keys.json")).status, 200);
});

t.test("OAuth off: the Matrix discovery paths say M_UNRECOGNIZED, the others do not exist", async (t) => {
  const gw = await startGateway(t);
  for (const path of PATHS.slice(0, 2)) {
    const reply = await gw.request(path);
    t.equal(reply.status, 404, path);
    t.same(reply.body, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }, path);
  }
  for (const path of [...PATHS.slice(2), "/oauth2/keys.json", "/oauth2/token", "/oauth2/registration"]) {
    t.equal((await gw.request(path)).status, 404, path);
  }
  t.equal(gw.homeserver.received.length, 0, "the homeserver is never asked");
});

t.test("keys.json publishes the ID-token key alone: RS256, use sig, its kid", async (t) => {
  const gw = await startOAuthGateway(t);
  const reply = await gw.request("/oauth2/keys.json");
  t.equal(reply.status, 200);
  t.equal(reply.headers.get("access-control-allow-origin"), "*");
  const key = gw.config.oauth.signing_key;
  const jwk = key?.publicKey.export({ format: "jwk" });
  t.same(reply.body, { keys: [{ kty: "RSA", n: jwk?.n, e: jwk?.e, kid: key?.kid, alg: "RS256", use: "sig" }] });
  t.match(key?.kid, /^[A-Za-z0-9_-]{43}$/, "an RFC 7638 thumbprint");
});

t.test("turned on and off by a reload, no restart needed", async (t) => {
  const gw = await startGateway(t);
  const keyFile = writeKeyFile(t);
  t.equal((await gw.request(PATHS[0] as string)).status, 404);
  const on = testConfig(gw.homeserver.url, { yaml: `public_baseurl: ${ISSUER}\noauth: {enabled: true, signing_key_file: "${keyFile}"}` });
  t.same(gw.gateway.reload(on), [], "nothing needs a restart");
  const reply = await gw.request(PATHS[0] as string);
  t.equal(reply.status, 200);
  t.same(reply.body, METADATA);
  t.equal((await gw.request("/oauth2/keys.json")).status, 200);
  t.same(gw.gateway.reload(testConfig(gw.homeserver.url)), []);
  t.equal((await gw.request(PATHS[0] as string)).status, 404);
  t.equal((await gw.request("/oauth2/keys.json")).status, 404);
});
