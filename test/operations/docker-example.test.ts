/**
 * examples/docker-compose.yml cannot be run here (no Docker engine), so at least: it is valid YAML with the
 * two services on one network, and the gateway config it points at passes the gateway's own validation
 * with the upstream at http://synapse:8008 and the server name Synapse is generated with.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { parse } from "yaml";
import { loadConfig } from "../../src/config/load.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));

t.test("docker-compose.yml: synapse and the gateway on one network", async (t) => {
  const compose = parse(fs.readFileSync(path.join(EXAMPLES, "docker-compose.yml"), "utf8"));
  t.match(compose.services.synapse, { image: /^matrixdotorg\/synapse(:|$)/, networks: ["matrix"] });
  t.match(compose.services.gateway, { networks: ["matrix"], ports: ["127.0.0.1:8080:8080"] });
  t.notOk(compose.services.synapse.ports, "Synapse is not published: clients cannot go around the gateway");
  t.match(compose.services.gateway.command.join(" "), /--config examples\/gateway\.docker\.yaml/);

  // The config it runs is valid (a check: the secret file is not created) and points at the synapse service.
  const config = loadConfig(path.join(EXAMPLES, "gateway.docker.yaml"));
  t.equal(config.upstream.url, "http://synapse:8008");
  t.equal(config.server_name, compose.services.synapse.environment.SYNAPSE_SERVER_NAME);
  t.same(config.listen, { host: "0.0.0.0", port: 8080 });
  t.equal(config.store.type, "sqlite");
});
