/**
 * Dynamic client registration (RFC 7591, MSC2966): what is accepted (web, native private-use scheme,
 * loopback, https) is answered 201 with the client's id and its registered metadata and kept in the store;
 * a bad redirect URI is `invalid_redirect_uri`, anything else `invalid_client_metadata`; rate-limited per
 * address with an OAuth-style 429.
 */
import t from "tap";
import { startOAuthGateway } from "../helpers/oauth.js";
import { rateLimitsYaml } from "../ratelimit/limits.js";

const CLIENT = "https://app.example.com";
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

/** The registered form: defaults filled in. */
const registered = (fields: Record<string, unknown>) => ({
  application_type: "web",
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code"],
  response_types: ["code"],
  ...fields,
});

t.test("accepted registrations: 201 with a client_id and the registered metadata, kept in the store", async (t) => {
  const gw = await startOAuthGateway(t);
  const accepted: [string, Record<string, unknown>][] = [
    ["web, https on client_uri's host", { client_uri: CLIENT, redirect_uris: [`${CLIENT}/callback`] }],
    ["web, https on a subdomain", { client_uri: "https://example.com/", redirect_uris: ["https://app.example.com/cb?x=1"] }],
    [
      "native, private-use scheme of the host reversed",
      { client_uri: CLIENT, application_type: "native", redirect_uris: ["com.example.app:/callback"] },
    ],
    [
      "native, a subdomain's scheme",
      { client_uri: "https://example.com", application_type: "native", redirect_uris: ["com.example.app.ios:/cb"] },
    ],
    [
      "native, loopback without a port",
      { client_uri: CLIENT, application_type: "native", redirect_uris: ["http://127.0.0.1/cb", "http://[::1]/", "http://localhost/cb"] },
    ],
    ["native, https", { client_uri: CLIENT, application_type: "native", redirect_uris: [`${CLIENT}/cb`] }],
    [
      "every understood field, unknown ones ignored",
      {
        client_uri: CLIENT,
        redirect_uris: [`${CLIENT}/cb`],
        client_name: "Test Client",
        "client_name#fr": "Client de test",
        logo_uri: `${CLIENT}/logo.png`,
        policy_uri: "https://legal.app.example.com/policy",
        tos_uri: `${CLIENT}/tos`,
        contacts: ["admin@example.com"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
        software_id: "ignored",
      },
    ],
  ];
  for (const [name, body] of accepted) {
    const reply = await gw.request("/oauth2/registration", post(body));
    t.equal(reply.status, 201, name);
    const { client_id, client_id_issued_at, ...metadata } = reply.body;
    t.match(client_id, /^[0-9a-f]{32}$/, name);
    t.equal(client_id_issued_at, Math.floor(gw.clock.now() / 1000), name);
    const { "client_name#fr": _fr, software_id: _id, ...understood } = body;
    t.same(metadata, registered(understood), name);
    t.equal(reply.headers.get("access-control-allow-origin"), "*", name);
    const stored = await gw.store.getClient(client_id);
    t.same(stored, { id: client_id, metadata, createdAt: gw.clock.now() }, `${name}: stored`);
  }
});

t.test("refused registrations: the exact error body", async (t) => {
  const gw = await startOAuthGateway(t);
  const redirect = (uris: unknown, extra: Record<string, unknown> = {}) => ({ client_uri: CLIENT, redirect_uris: uris, ...extra });
  const refused: [string, unknown, string, string][] = [
    ["fragment", redirect([`${CLIENT}/cb#x`]), "invalid_redirect_uri", `${CLIENT}/cb#x: must not have a fragment`],
    [
      "other host",
      redirect(["https://evil.example.net/cb"]),
      "invalid_redirect_uri",
      "https://evil.example.net/cb: must be on app.example.com or a subdomain of it",
    ],
    [
      "parent domain",
      redirect(["https://example.com/cb"]),
      "invalid_redirect_uri",
      "https://example.com/cb: must be on app.example.com or a subdomain of it",
    ],
    ["http for web", redirect(["http://app.example.com/cb"]), "invalid_redirect_uri", "http://app.example.com/cb: must be https"],
    ["loopback for web", redirect(["http://127.0.0.1/cb"]), "invalid_redirect_uri", "http://127.0.0.1/cb: must be https"],
    [
      "loopback with a port",
      redirect(["http://127.0.0.1:8080/cb"], { application_type: "native" }),
      "invalid_redirect_uri",
      "http://127.0.0.1:8080/cb: a loopback redirect URI is registered without a port (any port is then accepted)",
    ],
    [
      "http on another host, native",
      redirect(["http://app.example.com/cb"], { application_type: "native" }),
      "invalid_redirect_uri",
      "http://app.example.com/cb: http is only for loopback: http://127.0.0.1, http://[::1] or http://localhost",
    ],
    [
      "private-use scheme of another domain",
      redirect(["org.other.app:/cb"], { application_type: "native" }),
      "invalid_redirect_uri",
      "org.other.app:/cb: a private-use scheme must be the reverse of app.example.com or of a subdomain of it (e.g. com.example.app)",
    ],
    [
      "private-use scheme with an authority",
      redirect(["com.example.app://cb"], { application_type: "native" }),
      "invalid_redirect_uri",
      "com.example.app://cb: a private-use scheme takes no authority: write scheme:/path",
    ],
    ["private-use scheme for web", redirect(["com.example.app:/cb"]), "invalid_redirect_uri", "com.example.app:/cb: must be https"],
    ["not a URL", redirect(["not a url"]), "invalid_redirect_uri", "not a url: is not a URL"],
    ["no redirect URI", redirect([]), "invalid_client_metadata", "redirect_uris: list at least one redirect URI"],
    [
      "redirect_uris not a list",
      redirect(`${CLIENT}/cb`),
      "invalid_client_metadata",
      "redirect_uris: Invalid input: expected array, received string",
    ],
    [
      "no client_uri",
      { redirect_uris: [`${CLIENT}/cb`] },
      "invalid_client_metadata",
      "client_uri: Invalid input: expected string, received undefined",
    ],
    [
      "http client_uri",
      { client_uri: "http://app.example.com", redirect_uris: [`${CLIENT}/cb`] },
      "invalid_client_metadata",
      "client_uri: must be an https URL",
    ],
    [
      "unknown application_type",
      redirect([`${CLIENT}/cb`], { application_type: "desktop" }),
      "invalid_client_metadata",
      'application_type: Invalid option: expected one of "web"|"native"',
    ],
    [
      "a client secret method",
      redirect([`${CLIENT}/cb`], { token_endpoint_auth_method: "client_secret_basic" }),
      "invalid_client_metadata",
      'token_endpoint_auth_method: only "none" is supported (public clients)',
    ],
    [
      "implicit grant",
      redirect([`${CLIENT}/cb`], { grant_types: ["implicit"] }),
      "invalid_client_metadata",
      'grant_types.0: Invalid option: expected one of "authorization_code"|"refresh_token"',
    ],
    [
      "token response type",
      redirect([`${CLIENT}/cb`], { response_types: ["token"] }),
      "invalid_client_metadata",
      'response_types.0: Invalid input: expected "code"',
    ],
    [
      "logo on another host",
      redirect([`${CLIENT}/cb`], { logo_uri: "https://cdn.example.net/logo.png" }),
      "invalid_client_metadata",
      "logo_uri: must be an https URL on app.example.com or a subdomain of it",
    ],
    ["a list, not an object", [], "invalid_client_metadata", "body: Invalid input: expected object, received array"],
  ];
  for (const [name, body, error, description] of refused) {
    const reply = await gw.request("/oauth2/registration", post(body));
    t.equal(reply.status, 400, name);
    t.same(reply.body, { error, error_description: description }, name);
    t.equal(reply.headers.get("access-control-allow-origin"), "*", name);
  }
  const notJson = await gw.request("/oauth2/registration", { method: "POST", body: "{", headers: { "Content-Type": "application/json" } });
  t.equal(notJson.status, 400);
  t.same(notJson.body, { error: "invalid_client_metadata", error_description: "Content not JSON." });
});

t.test("rate-limited per address: an OAuth-style 429 with Retry-After", async (t) => {
  const gw = await startOAuthGateway(t, {
    rateLimits: rateLimitsYaml({ oauth_registration: { per_address: { points: 2, duration: "1h" } } }),
  });
  const body = { client_uri: CLIENT, redirect_uris: [`${CLIENT}/cb`] };
  t.equal((await gw.request("/oauth2/registration", post(body))).status, 201);
  const second = await gw.request("/oauth2/registration", post(body));
  t.equal(second.status, 201);
  t.equal(second.headers.get("ratelimit-remaining"), "0");
  const limited = await gw.request("/oauth2/registration", post(body));
  t.equal(limited.status, 429);
  t.same(limited.body, { error: "temporarily_unavailable", error_description: "Too many requests: try again later" });
  t.match(limited.headers.get("retry-after"), /^\d+$/);
  t.ok(Number(limited.headers.get("retry-after")) > 3000, "until the window ends");
  t.equal(limited.headers.get("access-control-allow-origin"), "*");
});
