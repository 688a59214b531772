/**
 * The `rate_limits:` block of the config: every bad value is a problem with its dotted path and
 * position (contract "Command line": `FILE:LINE:COL: dotted.path: message`), and the defaults —
 * the built-in route classes `send` and `join` included — are those documented in src/config/defaults.ts.
 */
import t from "tap";
import { ConfigError, type ConfigProblem, parseConfig } from "../../src/config/load.js";

const FILE = "gw.yaml";
/** Three lines: a `rate_limits:` block appended to it starts on line 4. */
const MINIMAL = "server_name: example.org\njwt:\n  secret: 0123456789abcdef0123456789abcdef\n";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function parse(rateLimits: string) {
  return parseConfig(MINIMAL + rateLimits, FILE, { env: {} });
}

function problems(rateLimits: string): ConfigProblem[] {
  try {
    parse(rateLimits);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError, but the file was accepted");
}

t.test("each bad value is one problem at its dotted path and line", async (t) => {
  const cases: { name: string; yaml: string; path: string; line: number; message: RegExp }[] = [
    {
      name: "points 0",
      yaml: "rate_limits:\n  login:\n    per_address: {points: 0, duration: 1m}",
      path: "rate_limits.login.per_address.points",
      line: 6,
      message: /^must be more than 0$/,
    },
    {
      name: "negative points",
      yaml: "rate_limits:\n  login:\n    per_account: {points: -3, duration: 1m}",
      path: "rate_limits.login.per_account.points",
      line: 6,
      message: /^must be more than 0$/,
    },
    {
      name: "non-integer points",
      yaml: "rate_limits:\n  login:\n    failed_per_account: {points: 1.5, duration: 1h}",
      path: "rate_limits.login.failed_per_account.points",
      line: 6,
      message: /^must be a whole number, not a fraction$/,
    },
    {
      name: "points as a string",
      yaml: 'rate_limits:\n  public:\n    per_address: {points: "five", duration: 1m}',
      path: "rate_limits.public.per_address.points",
      line: 6,
      message: /number/,
    },
    {
      name: "duration 0",
      yaml: "rate_limits:\n  refresh:\n    per_session: {points: 5, duration: 0}",
      path: "rate_limits.refresh.per_session.duration",
      line: 6,
      message: /^must be at least 1s$/,
    },
    {
      name: "duration below 1s",
      yaml: "rate_limits:\n  registration:\n    per_address: {points: 5, duration: 500ms}",
      path: "rate_limits.registration.per_address.duration",
      line: 6,
      message: /^must be at least 1s$/,
    },
    {
      name: "duration that is not one",
      yaml: "rate_limits:\n  refresh:\n    per_address: {points: 5, duration: soon}",
      path: "rate_limits.refresh.per_address.duration",
      line: 6,
      message: /^not a duration: "soon"/,
    },
    {
      name: "missing duration",
      yaml: "rate_limits:\n  per_user: {points: 5}",
      path: "rate_limits.per_user.duration",
      line: 5,
      message: /./,
    },
    {
      name: "bad block",
      yaml: "rate_limits:\n  login:\n    failed_per_address_account: {points: 3, duration: 5m, block: forever}",
      path: "rate_limits.login.failed_per_address_account.block",
      line: 6,
      message: /^not a duration: "forever"/,
    },
    {
      name: "negative block",
      yaml: "rate_limits:\n  per_user: {points: 5, duration: 1m, block: -5}",
      path: "rate_limits.per_user.block",
      line: 5,
      message: /^not a duration: -5/,
    },
    {
      name: "unknown key inside a limit",
      yaml: "rate_limits:\n  login:\n    per_address: {points: 5, duration: 1m, burst: 3}",
      path: "rate_limits.login.per_address.burst",
      line: 6,
      message: /^unknown key "burst"$/,
    },
    {
      name: "misspelt policy",
      yaml: "rate_limits:\n  login:\n    per_adress: {points: 5, duration: 1m}",
      path: "rate_limits.login.per_adress",
      line: 6,
      message: /^unknown key "per_adress" \(did you mean "per_address"\?\)$/,
    },
    {
      name: "an unknown route class without match",
      yaml: "rate_limits:\n  routes:\n    typing: {points: 5, duration: 10s}",
      path: "rate_limits.routes.typing",
      line: 6,
      message: /^unknown route class "typing": built-in classes are send, join; give a new class a match list$/,
    },
    {
      name: "a route class with an empty match list",
      yaml: "rate_limits:\n  routes:\n    typing: {match: [], points: 5, duration: 10s}",
      path: "rate_limits.routes.typing.match",
      line: 6,
      message: /^must list at least one item$/,
    },
    {
      name: "a route pattern without a method",
      yaml: 'rate_limits:\n  routes:\n    typing:\n      match: ["/_matrix/client/v3/rooms/*/typing/*"]\n      points: 5\n      duration: 10s',
      path: "rate_limits.routes.typing.match.0",
      line: 7,
      message: /^must be "METHOD\[,METHOD\] \/path\/pattern"$/,
    },
    {
      name: "a route class name that is not a lower-case word",
      yaml: 'rate_limits:\n  routes:\n    Typing: {match: ["PUT /x"], points: 5, duration: 10s}',
      path: "rate_limits.routes.Typing",
      line: 6,
      message: /./,
    },
    {
      name: "a built-in class with bad points",
      yaml: "rate_limits:\n  routes:\n    send: {points: 0, duration: 10s}",
      path: "rate_limits.routes.send.points",
      line: 6,
      message: /^must be more than 0$/,
    },
    {
      name: "a route class without duration",
      yaml: 'rate_limits:\n  routes:\n    typing: {match: ["PUT /x"], points: 5}',
      path: "rate_limits.routes.typing.duration",
      line: 6,
      message: /./,
    },
    {
      name: "ipv6_prefix 0",
      yaml: "rate_limits:\n  ipv6_prefix: 0",
      path: "rate_limits.ipv6_prefix",
      line: 5,
      message: /^must be at least 1$/,
    },
    {
      name: "ipv6_prefix 129",
      yaml: "rate_limits:\n  ipv6_prefix: 129",
      path: "rate_limits.ipv6_prefix",
      line: 5,
      message: /^must be at most 128$/,
    },
    {
      name: "max_in_flight_per_address 0",
      yaml: "rate_limits:\n  max_in_flight_per_address: 0",
      path: "rate_limits.max_in_flight_per_address",
      line: 5,
      message: /^must be more than 0$/,
    },
    {
      name: "an exempt user that is not a user ID",
      yaml: "rate_limits:\n  exempt_users:\n    - '@admin:example.org'\n    - alice",
      path: "rate_limits.exempt_users.1",
      line: 7,
      message: /^must be a full user ID, e\.g\. @admin:example\.org$/,
    },
    {
      name: "enabled not a boolean",
      yaml: "rate_limits:\n  enabled: sometimes",
      path: "rate_limits.enabled",
      line: 5,
      message: /^must be true or false, not text$/,
    },
  ];
  for (const c of cases) {
    const found = problems(c.yaml);
    t.equal(found.length, 1, `${c.name}: one problem`);
    t.equal(found[0]?.path, c.path, `${c.name}: path`);
    t.equal(found[0]?.line, c.line, `${c.name}: line`);
    t.match(found[0]?.message, c.message, `${c.name}: message`);
  }
});

t.test("the printed message names file, position and path", async (t) => {
  try {
    parse("rate_limits:\n  routes:\n    typing: {points: 5, duration: 10s}");
    t.fail("accepted");
  } catch (error) {
    t.equal(
      (error as Error).message,
      `${FILE}:6:5: rate_limits.routes.typing: unknown route class "typing": built-in classes are send, join; give a new class a match list`,
    );
  }
});

t.test("defaults", async (t) => {
  const limits = parse("").rate_limits;
  t.equal(limits.enabled, true, "limits are on by default (contract)");
  t.equal(limits.ipv6_prefix, 64);
  t.equal(limits.max_in_flight_per_address, 64);
  t.strictSame(limits.exempt_users, []);
  // Synapse's defaults (≥ 1.79) in Synapse's terms (issue 18 part 4).
  t.strictSame(limits.login, {
    per_address: { per_second: 0.003, burst_count: 5 },
    per_account: { per_second: 0.003, burst_count: 5 },
    failed_per_account: { per_second: 0.17, burst_count: 3 },
    failed_per_address_account: { points: 3, duration: 5 * MINUTE, block: 5 * MINUTE },
  });
  t.match(limits.refresh, { per_address: { points: 60, duration: MINUTE }, per_session: { points: 10, duration: MINUTE } });
  t.strictSame(limits.registration, { per_address: { per_second: 0.17, burst_count: 3 } });
  t.match(limits.public, { per_address: { points: 120, duration: MINUTE } });
  t.match(limits.per_user, { points: 600, duration: MINUTE });

  t.strictSame(Object.keys(limits.routes).sort(), ["join", "send"], "the built-in route classes");
  t.strictSame(limits.routes.send, {
    match: ["PUT /_matrix/client/{api/v1,r0,v3}/rooms/*/send/**"],
    per_second: 0.2,
    burst_count: 10,
  });
  t.strictSame(limits.routes.join, {
    match: ["POST /_matrix/client/{api/v1,r0,v3}/join/*", "POST /_matrix/client/{api/v1,r0,v3}/rooms/*/join"],
    per_second: 0.1,
    burst_count: 10,
  });
});

t.test("Synapse's rc_* blocks, pasted from homeserver.yaml, replace the limits they map onto", async (t) => {
  const limits = parse(
    [
      "rate_limits:",
      "  rc_login:",
      "    address: {per_second: 0.17, burst_count: 3}",
      "    account:",
      "      per_second: 0.5",
      "      burst_count: 7",
      "    failed_attempts: {per_second: 0.01, burst_count: 2}",
      "  rc_registration: {per_second: 0.05, burst_count: 4}",
      "  rc_message: {per_second: 1, burst_count: 20}",
      "  rc_joins:",
      "    local: {per_second: 0.2, burst_count: 5}",
      "    remote: {per_second: 0.01, burst_count: 10}",
    ].join("\n"),
  ).rate_limits;
  t.strictSame(limits.login.per_address, { per_second: 0.17, burst_count: 3 });
  t.strictSame(limits.login.per_account, { per_second: 0.5, burst_count: 7 });
  t.strictSame(limits.login.failed_per_account, { per_second: 0.01, burst_count: 2 });
  t.strictSame(limits.registration.per_address, { per_second: 0.05, burst_count: 4 });
  t.strictSame(limits.routes.send, { match: ["PUT /_matrix/client/{api/v1,r0,v3}/rooms/*/send/**"], per_second: 1, burst_count: 20 });
  t.match(limits.routes.join, { per_second: 0.2, burst_count: 5 });

  const problemsOf = (yaml: string) => problems(yaml).map((p) => `${p.path}: ${p.message}`);
  const pastedWrong = problemsOf("rate_limits:\n  rc_login:\n    address: {points: 5, duration: 1m}");
  t.ok(pastedWrong.includes('rate_limits.rc_login.address.points: unknown key "points"'), "rc_* blocks take Synapse's keys only");
  t.ok(problems("rate_limits:\n  rc_message: {per_second: 0}").length >= 1, "per_second must be positive, burst_count is needed");
  t.same(problemsOf("rate_limits:\n  login:\n    per_address: {per_second: 0.1, burst_count: 2, points: 3}"), [
    "rate_limits.login.per_address: either {per_second, burst_count} (Synapse's terms) or {points, duration, block}, not both",
  ]);
  t.same(problemsOf("rate_limits:\n  per_user: {per_second: 0.1}"), [
    "rate_limits.per_user.burst_count: Invalid input: expected a number, received nothing",
  ]);
});

t.test("operator classes are added to the built-in ones; a built-in class may be overridden without match", async (t) => {
  const limits = parse(
    [
      "rate_limits:",
      "  routes:",
      "    send: {points: 20, duration: 1m, block: 2m}",
      '    typing: {match: ["PUT /_matrix/client/v3/rooms/*/typing/*"], points: 2, duration: 10s}',
    ].join("\n"),
  ).rate_limits;
  t.strictSame(Object.keys(limits.routes).sort(), ["join", "send", "typing"]);
  t.strictSame(limits.routes.send, {
    match: ["PUT /_matrix/client/{api/v1,r0,v3}/rooms/*/send/**"],
    points: 20,
    duration: MINUTE,
    block: 2 * MINUTE,
  });
  t.strictSame(limits.routes.typing, {
    match: ["PUT /_matrix/client/v3/rooms/*/typing/*"],
    points: 2,
    duration: 10 * SECOND,
    block: undefined,
  });
  t.equal(limits.routes.join?.burst_count, 10, "join keeps its default");

  const replaced = parse(
    'rate_limits:\n  routes:\n    join: {match: ["POST /_matrix/client/v3/join/*"], points: 1, duration: 1m}',
  ).rate_limits;
  t.strictSame(replaced.routes.join?.match, ["POST /_matrix/client/v3/join/*"], "a built-in class's match may be replaced");
});

t.test("a limit given in full replaces its default; block is optional", async (t) => {
  const limits = parse("rate_limits:\n  login:\n    failed_per_account: {points: 4, duration: 2h}").rate_limits;
  t.strictSame(limits.login.failed_per_account, { points: 4, duration: 2 * HOUR }, "no default block creeps in");
  t.strictSame(limits.login.per_address, { per_second: 0.003, burst_count: 5 }, "the other login limits keep their defaults");
  t.equal(parse("rate_limits:\n  per_user: {points: 5, duration: 90}").rate_limits.per_user.duration, 90 * SECOND, "seconds as a number");
});
