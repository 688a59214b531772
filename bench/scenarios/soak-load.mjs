/**
 * The load of `npm run bench:soak` (soak.mjs): one open-loop generator on undici. Per kind, the requests due
 * at its rate since the phase began are sent every tick; every kind has a concurrency cap, and a request
 * that would exceed it is skipped and counted, so a slow gateway never builds a backlog here.
 *
 * Logins and refreshes come from as many loopback source addresses as the shipped per-address limits need
 * (read from the build: Synapse's login token bucket, 5 at once then one every ~5.5 minutes, takes about
 * 660 addresses for 5 logins/s over 11 minutes), and logins rotate over enough accounts for the per-account
 * bucket: no limit is reached, every answer should be 200.
 */
import { Client, Pool } from "undici";
import { DEFAULT_LOGIN_PER_ACCOUNT, DEFAULT_LOGIN_PER_ADDRESS } from "../../dist/src/config/defaults.js";

const WHOAMI = "/_matrix/client/v3/account/whoami";
const SYNC = "/_matrix/client/v3/sync";
const LOGIN = "/_matrix/client/v3/login";
const REFRESH = "/_matrix/client/v3/refresh";
/** A chain is refreshed at most this often: 6/min, under the shipped per-session limit of 10/min. */
export const REFRESH_INTERVAL_MS = 10_000;
/** Refreshes per address and minute, under the shipped limit (60/min). */
const REFRESHES_PER_ADDRESS_MINUTE = 40;
/** Share of the GETs sent with the newest token of a logged-in chain instead of a seeded token. */
const CHAIN_GET_SHARE = 0.15;
const TICK_MS = 10;
/** Source addresses of the GETs (127.0.0.1 and up). */
const GET_ADDRESSES = 4;
const sleep = (delay) => new Promise((resolve) => setTimeout(resolve, delay));

/**
 * Requests one key may make over `seconds`, with a fifth to spare: a token bucket's burst plus its refill, or
 * a fixed window's points per window.
 */
function withinBucket(limit, seconds) {
  const allowed = "per_second" in limit ? limit.burst_count + limit.per_second * seconds : limit.points * Math.max(1, seconds / 60);
  return Math.max(1, Math.floor(allowed * 0.8));
}

/** Starts nothing yet: `start(phase)`, `phase(name)`, `progress()`, `stop()`, `summary(soakSeconds)`. */
export function createLoad(port, seeded, settings) {
  const origin = `http://127.0.0.1:${port}`;
  const timeouts = { headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 30_000 };
  // The GETs come from a few source addresses (the shipped cap of 64 requests in flight per address).
  const gets = Array.from(
    { length: GET_ADDRESSES },
    (_, i) =>
      new Pool(origin, {
        connections: Math.ceil(settings.connections / GET_ADDRESSES),
        pipelining: 1,
        localAddress: `127.0.0.${i + 1}`,
        ...timeouts,
      }),
  );
  let nextGet = 0;
  // One keep-alive connection per source address (127.<net>.x.y): each address is one client as far as the limits go.
  const addresses = (net, count) =>
    Array.from(
      { length: count },
      (_, i) => new Client(origin, { localAddress: `127.${net}.${Math.floor(i / 250)}.${(i % 250) + 1}`, ...timeouts }),
    );
  const runSeconds = settings.warmupSec + settings.soakSec;
  const logins = settings.loginRate * runSeconds;
  const loginClients = addresses(1, Math.ceil(logins / withinBucket(DEFAULT_LOGIN_PER_ADDRESS, runSeconds)));
  const refreshClients = addresses(2, Math.ceil((settings.refreshRate * 60) / REFRESHES_PER_ADDRESS_MINUTE));
  const loginUsers = Math.ceil(logins / withinBucket(DEFAULT_LOGIN_PER_ACCOUNT, runSeconds)) + 1;
  let nextLogin = 0;
  let nextRefresh = 0;
  /** Logged-in clients, the one refreshed longest ago first: {user, accessToken, refreshToken, refreshedAt}. */
  const chains = [];

  const newStats = () => ({ sent: 0, answered: 0, ok: 0, statuses: {}, errors: 0, skipped: 0, notDue: 0, latencies: [] });
  // whoami and sync share one concurrency cap: the GET connections.
  const getSlots = { cap: settings.connections, inFlight: 0 };
  const kinds = {
    whoami: getSlots,
    sync: getSlots,
    login: { cap: loginClients.length, inFlight: 0 },
    refresh: { cap: refreshClients.length, inFlight: 0 },
  };
  const stats = { warmup: {}, soak: {} };
  for (const phase of Object.keys(stats)) for (const name of Object.keys(kinds)) stats[phase][name] = newStats();
  let phase = "warmup";
  let phaseStart = 0;
  let due = { get: 0, login: 0, refresh: 0 };
  let timer;

  async function send(name, dispatcher, request, onBody) {
    const kind = kinds[name];
    const s = stats[phase][name];
    if (kind.inFlight >= kind.cap) {
      s.skipped++;
      return;
    }
    kind.inFlight++;
    s.sent++;
    const started = performance.now();
    try {
      const { statusCode, body } = await dispatcher.request(request);
      if (statusCode >= 200 && statusCode < 300 && onBody) await onBody(await body.json());
      else await body.dump();
      s.answered++;
      s.statuses[statusCode] = (s.statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        s.ok++;
        s.latencies.push(performance.now() - started);
      }
    } catch {
      s.errors++;
    } finally {
      kind.inFlight--;
    }
  }

  function get() {
    const chain = chains.length && Math.random() < CHAIN_GET_SHARE ? chains[Math.floor(Math.random() * chains.length)] : undefined;
    const token = chain?.accessToken ?? seeded[Math.floor(Math.random() * seeded.length)];
    const name = Math.random() < 0.5 ? "whoami" : "sync";
    void send(name, gets[nextGet++ % gets.length], {
      method: "GET",
      path: name === "whoami" ? WHOAMI : SYNC,
      headers: { authorization: `Bearer ${token}` },
    });
  }

  function login() {
    const user = `soak${nextLogin % loginUsers}`;
    const client = loginClients[nextLogin++ % loginClients.length];
    const body = JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password: "soak",
      refresh_token: true,
    });
    void send("login", client, { method: "POST", path: LOGIN, headers: { "content-type": "application/json" }, body }, (answer) => {
      chains.push({ user, accessToken: answer.access_token, refreshToken: answer.refresh_token, refreshedAt: performance.now() });
      // Only the newest chains keep refreshing: the oldest client goes away.
      if (chains.length > settings.chains) chains.shift();
    });
  }

  function refresh() {
    const head = chains[0];
    if (!head || performance.now() - head.refreshedAt < REFRESH_INTERVAL_MS) {
      stats[phase].refresh.notDue++;
      return;
    }
    // Out of the list while in flight: no GET uses a token that is being replaced.
    chains.shift();
    const client = refreshClients[nextRefresh++ % refreshClients.length];
    const body = JSON.stringify({ refresh_token: head.refreshToken });
    void send("refresh", client, { method: "POST", path: REFRESH, headers: { "content-type": "application/json" }, body }, (answer) => {
      head.accessToken = answer.access_token;
      head.refreshToken = answer.refresh_token;
      head.refreshedAt = performance.now();
      chains.push(head);
      if (chains.length > settings.chains) chains.shift();
    });
  }

  function tick() {
    const elapsed = (performance.now() - phaseStart) / 1000;
    const fire = (key, rate, one) => {
      // Requests due since the phase began; after a stall (this process starved of CPU) at most one
      // second's worth is sent at once, the rest is dropped and counted as skipped.
      let n = Math.floor(elapsed * rate) - due[key];
      due[key] += n;
      const burst = Math.ceil(rate);
      if (n > burst) {
        const dropped = n - burst;
        if (key === "get") {
          stats[phase].whoami.skipped += Math.ceil(dropped / 2);
          stats[phase].sync.skipped += Math.floor(dropped / 2);
        } else {
          stats[phase][key].skipped += dropped;
        }
        n = burst;
      }
      for (let i = 0; i < n; i++) one();
    };
    fire("get", settings.getRate, get);
    fire("login", settings.loginRate, login);
    fire("refresh", settings.refreshRate, refresh);
  }

  return {
    start(name) {
      phase = name;
      phaseStart = performance.now();
      timer = setInterval(tick, TICK_MS);
    },
    /** A new phase: fresh counters, and the due counts start again from its beginning. */
    phase(name) {
      phase = name;
      phaseStart = performance.now();
      due = { get: 0, login: 0, refresh: 0 };
    },
    progress() {
      const s = stats[phase];
      const answered = Object.values(s).reduce((n, k) => n + k.answered, 0);
      const non2xx = Object.values(s).reduce((n, k) => n + k.answered - k.ok, 0);
      return `${answered} answered, ${non2xx} non-2xx, ${chains.length} chains`;
    },
    async stop() {
      clearInterval(timer);
      const deadline = performance.now() + 5000;
      while (Object.values(kinds).some((k) => k.inFlight > 0) && performance.now() < deadline) await sleep(20);
      await Promise.all([...gets, ...loginClients, ...refreshClients].map((d) => d.destroy()));
    },
    summary(soakSeconds) {
      const out = {};
      for (const [phaseName, byKind] of Object.entries(stats)) {
        out[phaseName] = {};
        for (const [name, s] of Object.entries(byKind)) {
          const sorted = s.latencies.sort((a, b) => a - b);
          const { latencies, ...rest } = s;
          out[phaseName][name] = {
            ...rest,
            perSecond: phaseName === "soak" ? s.answered / soakSeconds : undefined,
            p50Ms: percentile(sorted, 0.5),
            p99Ms: percentile(sorted, 0.99),
          };
        }
      }
      out.loginUsers = loginUsers;
      out.loginAddresses = loginClients.length;
      out.refreshAddresses = refreshClients.length;
      return out;
    },
  };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
