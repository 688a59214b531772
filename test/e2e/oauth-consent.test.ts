/**
 * The consent step (on by default, `oauth.consent`): after the password, the user sees which application
 * asks — its name, client_uri's host and the host it will be sent back to — and grants access with the
 * button named `consent`; no code is issued before. With `oauth.consent: false` the password is enough.
 */
import t from "tap";
import { parseForms } from "../helpers/html-form.js";
import { authorizationRequest, authorizeWithForms } from "../helpers/oauth-form-login.js";
import { matrixScope, registerLoopbackClient, startOAuthGateway } from "../helpers/oauth-gateway.js";

const REDIRECT_URI = "http://127.0.0.1:45789/callback";

t.test("consent shows the client's name, client_uri host and redirect host before any code", async (t) => {
  const gw = await startOAuthGateway(t);
  const clientId = await registerLoopbackClient(gw, { client_name: "Fancy <Chat> & Co", client_uri: "https://fancy.example.com/" });
  const { location, pages } = await authorizeWithForms(
    authorizationRequest(gw.issuer, clientId, REDIRECT_URI, matrixScope("CONSENT1")).url,
  );
  t.ok(location.searchParams.get("code"), "a code in the end");
  const consent = pages.find((page) => parseForms(page.body).some((form) => form.buttons.some((b) => b.name === "consent")));
  t.ok(consent, "a consent page was shown");
  if (!consent) return;
  t.equal(consent.status, 200);
  t.match(consent.body, /Fancy (&lt;|&#60;)Chat(&gt;|&#62;) (&amp;|&#38;) Co/, "the client's name, escaped");
  t.notMatch(consent.body, "<Chat>", "never as markup");
  t.match(consent.body, "fancy.example.com", "client_uri's host");
  t.match(consent.body, "127.0.0.1", "the host the browser will be sent to");
  const before = pages.indexOf(consent);
  t.notOk(
    pages.slice(0, before + 1).some((page) => /[?&#]code=/.test(page.headers.get("location") ?? "")),
    "no code before the consent was given",
  );
});

t.test("with oauth.consent: false the password is enough", async (t) => {
  const gw = await startOAuthGateway(t, { oauthYaml: "consent: false" });
  const clientId = await registerLoopbackClient(gw);
  const { location, pages } = await authorizeWithForms(
    authorizationRequest(gw.issuer, clientId, REDIRECT_URI, matrixScope("CONSENT2")).url,
  );
  t.ok(location.searchParams.get("code"), "a code");
  t.notOk(
    pages.some((page) => parseForms(page.body).some((form) => form.buttons.some((b) => b.name === "consent"))),
    "no consent page",
  );
});
