import t from "tap";
import { bearer, startGateway } from "./helpers/gateway.js";

t.test("login, call, refresh", async (t) => {
  const gw = await startGateway(t);
  const login = await gw.login();
  t.match(login, { user_id: "@alice:example.org", home_server: "example.org", expires_in_ms: 300000 });
  const whoami = await gw.request("/_matrix/client/v3/account/whoami", { headers: bearer(login.access_token) });
  t.same(whoami.status, 200);
  t.same(whoami.body.user_id, "@alice:example.org");
  const refreshed = await gw.request("/_matrix/client/v3/refresh", {
    method: "POST",
    body: JSON.stringify({ refresh_token: login.refresh_token }),
  });
  t.equal(refreshed.status, 200);
});
