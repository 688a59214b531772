/**
 * nginx as a reference reverse proxy, when it is installed (`command -v nginx`): one process
 * (`master_process off`), keep-alive to the upstream, no access log. Parent-side: writes a config to a
 * temporary directory and starts nginx in the foreground.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freePort, startProcess } from "../lib/children.mjs";

/** The nginx binary, or undefined when it is not installed. */
export function findNginx() {
  try {
    return execFileSync("sh", ["-c", "command -v nginx"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function startNginx(binary, upstreamPort, directory) {
  const port = await freePort();
  mkdirSync(path.join(directory, "temp"), { recursive: true });
  const temp = (name) => path.join(directory, "temp", name);
  const config = `
daemon off;
master_process off;
worker_processes 1;
pid ${path.join(directory, "nginx.pid")};
error_log ${path.join(directory, "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp("body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  keepalive_requests 1000000;
  upstream homeserver {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://homeserver;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const file = path.join(directory, "nginx.conf");
  writeFileSync(file, config);
  // -e: nginx 1.19.5+ would otherwise try its compiled-in error log before reading the config.
  return startProcess("nginx", binary, ["-c", file, "-p", directory, "-e", path.join(directory, "error.log")], port);
}
