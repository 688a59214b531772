/**
 * The rate-limit key of a client address. An IPv6 host usually owns a whole prefix (a /64), so keying
 * by the full address would let one client rotate through 2^64 keys.
 */
import net from "node:net";
import ipaddr from "ipaddr.js";

export function addressKey(address: string, ipv6Prefix: number): string {
  // An IPv4 address has no colon: the usual case answers without net.isIPv6's regex.
  if (!address.includes(":") || ipv6Prefix >= 128 || !net.isIPv6(address)) return address;
  const zone = address.indexOf("%");
  const plain = zone === -1 ? address : address.slice(0, zone);
  // An IPv4 client on an IPv6 socket: its /64 would be `::/64`, one key for every IPv4 client.
  const parsed = ipaddr.IPv6.parse(plain);
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${plain}/${ipv6Prefix}`).toString()}/${ipv6Prefix}`;
}
