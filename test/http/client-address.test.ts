/**
 * The client address that rate limits key on (contract "Rate limits"): the socket's peer, unless the
 * peer is a trusted proxy; then the right-most X-Forwarded-For hop that is not itself trusted, so a
 * client cannot pick its own address by prepending hops. IPv6 clients are keyed by their /64
 * (`rate_limits.ipv6_prefix`), since one host usually owns the whole prefix.
 */
import type { IncomingMessage } from "node:http";
import t from "tap";
import { clientAddress, trustedProxies } from "../../src/http/client-address.js";
import { addressKey } from "../../src/ratelimit/address-key.js";
import { assertLimited, login, loginLimits, startLimited } from "../ratelimit/limits.js";

/** Just what clientAddress reads of a request. */
function request(remoteAddress: string | undefined, xff?: string | string[]): IncomingMessage {
  const headers: Record<string, string | string[]> = {};
  if (xff !== undefined) headers["x-forwarded-for"] = xff;
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

t.test("clientAddress", async (t) => {
  const cases: { name: string; trusted: string[]; peer: string; xff?: string | string[]; want: string }[] = [
    { name: "no trusted proxies: X-Forwarded-For is ignored", trusted: [], peer: "203.0.113.5", xff: "198.51.100.7", want: "203.0.113.5" },
    {
      name: "untrusted peer with a spoofed X-Forwarded-For",
      trusted: ["10.0.0.0/8"],
      peer: "203.0.113.5",
      xff: "10.0.0.2, 198.51.100.7",
      want: "203.0.113.5",
    },
    { name: "trusted peer, one hop", trusted: ["10.0.0.0/8"], peer: "10.0.0.1", xff: "198.51.100.7", want: "198.51.100.7" },
    { name: "trusted peer without X-Forwarded-For", trusted: ["10.0.0.0/8"], peer: "10.0.0.1", want: "10.0.0.1" },
    {
      name: "a single trusted address (no prefix length)",
      trusted: ["127.0.0.1"],
      peer: "127.0.0.1",
      xff: "198.51.100.7",
      want: "198.51.100.7",
    },
    {
      name: "hops the client prepended are not believed: the right-most untrusted hop wins",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: "1.1.1.1, 8.8.8.8, 198.51.100.7",
      want: "198.51.100.7",
    },
    {
      name: "a chain of trusted proxies is skipped",
      trusted: ["10.0.0.0/8", "192.168.0.0/16"],
      peer: "10.0.0.1",
      xff: "6.6.6.6, 198.51.100.7, 192.168.1.1, 10.0.0.3",
      want: "198.51.100.7",
    },
    {
      name: "every hop trusted: the left-most hop",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: "10.0.0.9, 10.0.0.2",
      want: "10.0.0.9",
    },
    {
      name: "a garbage hop stops the walk at the last hop vouched for",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: "198.51.100.7, unknown, 10.0.0.2",
      want: "10.0.0.2",
    },
    {
      name: "a garbage right-most hop: the peer",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: "198.51.100.7, not-an-ip",
      want: "10.0.0.1",
    },
    {
      name: "an IPv4 hop with a port: the port is dropped",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: "198.51.100.7:4711",
      want: "198.51.100.7",
    },
    { name: "a bracketed IPv6 hop with a port", trusted: ["10.0.0.0/8"], peer: "10.0.0.1", xff: "[2001:db8::7]:4711", want: "2001:db8::7" },
    { name: "a hop that is no address is garbage", trusted: ["10.0.0.0/8"], peer: "10.0.0.1", xff: "unknown", want: "10.0.0.1" },
    { name: "an empty hop is garbage", trusted: ["10.0.0.0/8"], peer: "10.0.0.1", xff: "198.51.100.7, ", want: "10.0.0.1" },
    { name: "IPv4-mapped IPv6 peer, untrusted: normalised", trusted: [], peer: "::ffff:203.0.113.5", want: "203.0.113.5" },
    {
      name: "IPv4-mapped IPv6 peer matches an IPv4 trusted range",
      trusted: ["10.0.0.0/8"],
      peer: "::ffff:10.0.0.1",
      xff: "198.51.100.7",
      want: "198.51.100.7",
    },
    { name: "IPv4-mapped hop normalised", trusted: ["10.0.0.0/8"], peer: "10.0.0.1", xff: "::ffff:198.51.100.7", want: "198.51.100.7" },
    { name: "IPv6 CIDR trust", trusted: ["fd00::/8"], peer: "fd12::1", xff: "2001:db8::1, fd00::5", want: "2001:db8::1" },
    { name: "IPv6 peer outside the trusted CIDR", trusted: ["fd00::/8"], peer: "2001:db8::2", xff: "2001:db8::1", want: "2001:db8::2" },
    { name: "IPv4 hop behind an IPv6 proxy", trusted: ["::1"], peer: "::1", xff: "198.51.100.7", want: "198.51.100.7" },
    {
      name: "several X-Forwarded-For headers are one list, in order",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: ["6.6.6.6, 198.51.100.7", "10.0.0.2"],
      want: "198.51.100.7",
    },
    {
      name: "several headers: the right-most untrusted hop may be in the last one",
      trusted: ["10.0.0.0/8"],
      peer: "10.0.0.1",
      xff: ["198.51.100.7", "203.0.113.9"],
      want: "203.0.113.9",
    },
  ];
  for (const c of cases) {
    t.equal(clientAddress(request(c.peer, c.xff), trustedProxies(c.trusted)), c.want, c.name);
  }
});

t.test("addressKey: IPv6 by prefix, IPv4 as is", async (t) => {
  const cases: { address: string; prefix: number; want: string }[] = [
    { address: "2001:db8:1:2:aaaa::1", prefix: 64, want: "2001:db8:1:2::/64" },
    { address: "2001:db8:1:2:ffff:ffff:ffff:ffff", prefix: 64, want: "2001:db8:1:2::/64" },
    { address: "2001:db8:1:3::1", prefix: 64, want: "2001:db8:1:3::/64" },
    { address: "2001:db8:1:2::1", prefix: 48, want: "2001:db8:1::/48" },
    { address: "2001:db8:1:ff::1", prefix: 48, want: "2001:db8:1::/48" },
    { address: "2001:db8:1:2::1", prefix: 128, want: "2001:db8:1:2::1" },
    { address: "fe80::1%eth0", prefix: 64, want: "fe80::/64" },
    { address: "198.51.100.7", prefix: 64, want: "198.51.100.7" },
    { address: "198.51.100.7", prefix: 8, want: "198.51.100.7" },
    // An IPv4 client seen through an IPv6 socket is that IPv4 client, not the network `::/64` shared by every IPv4 client.
    { address: "::ffff:198.51.100.7", prefix: 64, want: "198.51.100.7" },
    { address: "::ffff:c633:6407", prefix: 64, want: "198.51.100.7" },
  ];
  for (const c of cases) t.equal(addressKey(c.address, c.prefix), c.want, `${c.address} /${c.prefix}`);
  t.equal(addressKey("2001:db8:1:2::1", 64), addressKey("2001:db8:1:2:dead:beef::7", 64), "one /64, one key");
  t.not(addressKey("2001:db8:1:2::1", 64), addressKey("2001:db8:1:3::1", 64), "another /64, another key");
  t.not(addressKey("::ffff:198.51.100.7", 64), addressKey("::ffff:198.51.100.8", 64), "two IPv4 clients, two keys");
});

t.test("through the gateway", async (t) => {
  const tight = { login: loginLimits({ per_address: { points: 3, duration: "1m" } }) };

  t.test("without trusted proxies, a spoofed X-Forwarded-For does not change the client's bucket", async (t) => {
    const gw = await startLimited(t, tight);
    for (let i = 1; i <= 3; i++) t.equal((await login(gw, { user: `nobody${i}`, address: `198.51.100.${i}` })).status, 403);
    assertLimited(t, await login(gw, { address: "198.51.100.99" }), { retryAfterMs: 60_000, limit: 3 }, "a fourth spoofed address");
  });

  t.test("behind a trusted proxy, hops the client prepends do not change its bucket", async (t) => {
    const gw = await startLimited(t, tight, { yaml: "trusted_proxies: [127.0.0.1]" });
    // The proxy appends the address it saw (203.0.113.5) to whatever the client sent.
    for (let i = 1; i <= 3; i++) t.equal((await login(gw, { user: `nobody${i}`, address: `198.51.100.${i}, 203.0.113.5` })).status, 403);
    assertLimited(t, await login(gw, { address: "198.51.100.99, 203.0.113.5" }), { retryAfterMs: 60_000, limit: 3 }, "still 203.0.113.5");
    t.equal((await login(gw, { address: "203.0.113.6" })).status, 403, "another client behind the proxy has its own bucket");
  });

  t.test("IPv6 clients share a bucket per /64, and ipv6_prefix sets the size", async (t) => {
    for (const [prefix, sameBucket] of [
      [64, ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"]],
      [48, ["2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:ffff::1"]],
    ] as const) {
      const gw = await startLimited(t, { ...tight, ipv6_prefix: prefix }, { yaml: "trusted_proxies: [127.0.0.1]" });
      for (const address of sameBucket) t.equal((await login(gw, { address })).status, 403, `/${prefix}: ${address}`);
      assertLimited(t, await login(gw, { address: "2001:db8:1:2::99" }), { retryAfterMs: 60_000, limit: 3 }, `/${prefix} exhausted`);
      t.equal((await login(gw, { address: "2001:db8:2::1" })).status, 403, `/${prefix}: another prefix`);
    }
  });
});
