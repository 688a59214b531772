import t from "tap";
import { createMemoryStore } from "../../src/store/memory.js";
import { hasChromium, launchChromium } from "../helpers/chromium.js";
import { authorizeInBrowser } from "../helpers/oauth-browser-login.js";
import { authorizationRequest, authorizeWithForms } from "../helpers/oauth-form-login.js";
import { matrixScope, startOAuthGateway } from "../helpers/oauth-gateway.js";
import { startRedirectCatcher } from "../helpers/redirect-catcher.js";

t.test("smoke", async (t) => {
  const store = createMemoryStore();
  const gw = await startOAuthGateway(t, { deps: { store } });
  await store.saveClient({
    id: "c1",
    metadata: {
      client_uri: "https://client.example.com/",
      redirect_uris: ["http://127.0.0.1/callback"],
      application_type: "native",
      token_endpoint_auth_method: "none",
    },
    createdAt: gw.clock.now(),
  });
  const req = authorizationRequest(gw.issuer, "c1", "http://127.0.0.1:45789/callback", matrixScope("DEVX"));
  const r = await authorizeWithForms(req.url);
  console.log(
    r.location.href,
    r.pages.map((p) => [
      p.method,
      p.status,
      p.headers.get("x-frame-options"),
      p.headers.get("cache-control"),
      p.headers.get("content-security-policy"),
    ]),
  );
  console.log(r.pages[0]?.body);
  if (hasChromium()) {
    const catcher = await startRedirectCatcher(t);
    const browser = await launchChromium(t);
    const req2 = authorizationRequest(gw.issuer, "c1", catcher.redirectUri, matrixScope("DEVY"));
    const b = await authorizeInBrowser(browser, req2.url, catcher.redirectUri);
    console.log(b.landed.href, b.consented, b.documents);
  }
});
