/**
 * IPv4 CIDR arithmetic for the ingress rules: parse, canonicalise, and say how much of the public
 * internet a range opens. Pure: no I/O, no Pulumi. A string comparison with "0.0.0.0/0" misses
 * 0.0.0.0/1 plus 128.0.0.0/1, or 1.2.3.4/0 (which AWS reads as 0.0.0.0/0).
 */

/** An IPv4 range: the 32-bit address as an unsigned number, and the prefix length. */
export interface Cidr {
  readonly address: number;
  readonly prefix: number;
}

/** The RFC 1918 private ranges: not reachable from the internet, so any size of them is fine. */
export const PRIVATE_RANGES: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** The broadest public range allowed without `allowPublicIngress`: a /8 (16.7 million addresses). */
export const BROADEST_PUBLIC_PREFIX = 8;

const OCTET = /^(0|[1-9]\d{0,2})$/;

/** Parse "a.b.c.d/n" (no leading zeros, octets 0-255, n 0-32), or null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (m === null) return null;
  const [, ip = "", len = ""] = m;
  const octets = ip.split(".");
  if (octets.length !== 4 || !octets.every((o) => OCTET.test(o) && Number(o) <= 255)) return null;
  const prefix = Number(len);
  if (prefix > 32 || (len.length === 2 && len.startsWith("0"))) return null;
  const address = octets.reduce((acc, o) => acc * 256 + Number(o), 0);
  return { address, prefix };
}

/** The netmask of a prefix length, as an unsigned number. */
function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Dotted-quad text of a range. */
export function cidrText(c: Cidr): string {
  const a = c.address;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${c.prefix}`;
}

/** The range with its host bits cleared: 10.0.0.1/8 becomes 10.0.0.0/8. */
export function networkOf(c: Cidr): Cidr {
  return { address: (c.address & maskOf(c.prefix)) >>> 0, prefix: c.prefix };
}

/** True when bits beyond the prefix are set (the address is not the network's first). */
export function hasHostBits(c: Cidr): boolean {
  return networkOf(c).address !== c.address;
}

/** True when every address of `inner` lies in `outer`. */
export function isWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && (inner.address & maskOf(outer.prefix)) >>> 0 === networkOf(outer).address;
}

const PRIVATE = PRIVATE_RANGES.map((r) => {
  const c = parseCidr(r);
  if (c === null) throw new Error(`bad private range ${r}`);
  return c;
});

/** True when the whole range is private (inside one RFC 1918 range). */
export function isPrivate(c: Cidr): boolean {
  return PRIVATE.some((p) => isWithin(c, p));
}

/** True when the range reaches public addresses and is broader than a /8: it needs `allowPublicIngress`. */
export function isBroadPublic(c: Cidr): boolean {
  return c.prefix < BROADEST_PUBLIC_PREFIX && !isPrivate(c);
}
