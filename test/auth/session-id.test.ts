/**
 * Session ids are what an operator types in `sessions revoke --session ID`: hex, so that none begins with
 * `-` (which the command line would read as an option; base64url ids did, one in 64).
 */
import t from "tap";
import { startGateway } from "../helpers/gateway.js";

t.test("session ids are 32 hex digits", async (t) => {
  const gw = await startGateway(t);
  for (let i = 0; i < 20; i++) {
    const grant = await gw.gateway.sessions.start({
      userId: "@alice:example.org",
      deviceId: `D${i}`,
      upstreamToken: `up${i}`,
      refreshable: true,
    });
    t.match(grant.session.id, /^[0-9a-f]{32}$/);
  }
});
