/**
 * examples/docker-compose.yml cannot be run here (no Docker engine), so at least: it is valid YAML with the
 * two services on one network, the gateway is built from the repository's Dockerfile with the example config
 * mounted where the image reads it, and that config passes the gateway's own validation with the upstream at
 * http://synapse:8008, the server name Synapse is generated with, and its files on the data volume.
 * (The Dockerfile itself: test/operations/package.test.ts.)
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { parse } from "yaml";
import { loadConfig } from "../../src/config/load.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
const DATA = "/var/lib/matrix-auth-gateway";

t.test("docker-compose.yml: synapse and the gateway's image on one network", async (t) => {
  const compose = parse(fs.readFileSync(path.join(EXAMPLES, "docker-compose.yml"), "utf8"));
  t.match(compose.services.synapse, { image: /^matrixdotorg\/synapse(:|$)/, networks: ["matrix"] });
  t.match(compose.services.gateway, { networks: ["matrix"], ports: ["127.0.0.1:8080:8080"] });
  t.notOk(compose.services.synapse.ports, "Synapse is not published: clients cannot go around the gateway");
  t.ok(fs.existsSync(path.join(EXAMPLES, compose.services.gateway.build, "Dockerfile")), "built from the repository's Dockerfile");
  t.notOk(compose.services.gateway.command, "the image's own ENTRYPOINT and CMD run it");
  t.same(compose.services.gateway.volumes, ["./gateway.docker.yaml:/etc/matrix-auth-gateway/gateway.yaml:ro", `gateway-data:${DATA}`]);
  t.ok(compose.volumes["gateway-data"] !== undefined, "the data volume is declared");

  // The config it runs is valid (a check: the secret file is not created) and points at the synapse service.
  const config = loadConfig(path.join(EXAMPLES, "gateway.docker.yaml"));
  t.equal(config.upstream.url, "http://synapse:8008");
  t.equal(config.server_name, compose.services.synapse.environment.SYNAPSE_SERVER_NAME);
  t.same(config.listen, { host: "0.0.0.0", port: 8080 });
  t.equal(config.store.type, "sqlite");
  t.equal(path.dirname(config.store.path), DATA, "the store is on the data volume");
  const docker = fs.readFileSync(path.join(EXAMPLES, "..", "Dockerfile"), "utf8");
  t.match(docker, `ENV HEALTHCHECK_URL=http://127.0.0.1:${config.listen.port}/health`, "the image's health check asks this port");
});
