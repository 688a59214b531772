/**
 * The address a request comes from: the socket's peer, unless that peer is a trusted proxy; then the
 * right-most `X-Forwarded-For` hop that is not itself trusted. Taking the right-most untrusted hop
 * (not the left-most, as Synapse does: synapse#9471) means a client cannot choose its own address.
 */
import type { IncomingMessage } from "node:http";
import net from "node:net";

export type TrustedProxies = net.BlockList | undefined;

export function trustedProxies(cidrs: string[]): TrustedProxies {
  if (cidrs.length === 0) return undefined;
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address = "", bits] = cidr.split("/");
    const family = net.isIPv6(address) ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

export function clientAddress(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = normalise(req.socket.remoteAddress ?? "");
  if (!trusted || !isTrusted(peer, trusted)) return peer;
  const header = req.headers["x-forwarded-for"];
  if (!header) return peer;
  const hops = (Array.isArray(header) ? header.join(",") : header).split(",");
  let address = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalise(withoutPort((hops[i] as string).trim()));
    if (!net.isIP(hop)) return address; // garbage in the chain: stop at the last hop we could vouch for
    address = hop;
    if (!isTrusted(hop, trusted)) return hop;
  }
  return address;
}

/** Some proxies write `192.0.2.1:5678` or `[2001:db8::1]:5678`: the port is not part of the address. */
function withoutPort(hop: string): string {
  if (hop.startsWith("[")) {
    const end = hop.indexOf("]");
    return end === -1 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(":");
  return colon !== -1 && colon === hop.lastIndexOf(":") ? hop.slice(0, colon) : hop;
}

function isTrusted(address: string, trusted: net.BlockList): boolean {
  const family = net.isIPv6(address) ? "ipv6" : "ipv4";
  return net.isIP(address) !== 0 && trusted.check(address, family);
}

/** `::ffff:192.0.2.1` is the IPv4 client 192.0.2.1 on a dual-stack socket. */
function normalise(address: string): string {
  return address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
