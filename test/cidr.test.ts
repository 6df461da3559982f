/**
 * The pure CIDR module behind the ingress checks, as tables: parsing (and what is not a CIDR),
 * canonical text, host bits, containment, private ranges, and which ranges need
 * allowPublicIngress (public and broader than a /8).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cidrText,
  hasHostBits,
  isBroadPublic,
  isPrivate,
  isWithin,
  networkOf,
  parseCidr,
  type Cidr,
} from "../components/config/cidr";

const must = (text: string): Cidr => {
  const c = parseCidr(text);
  if (c === null) throw new Error(`test table: ${text} does not parse`);
  return c;
};

describe("parseCidr", () => {
  it("reads the address as an unsigned 32-bit number and the prefix", () => {
    const table: [string, number, number][] = [
      ["0.0.0.0/0", 0, 0],
      ["10.0.0.0/8", 167772160, 8],
      ["255.255.255.255/32", 4294967295, 32],
      ["192.168.1.7/24", 3232235783, 24],
    ];
    for (const [text, address, prefix] of table) assert.deepEqual(parseCidr(text), { address, prefix }, text);
  });

  it("returns null for anything that is not a.b.c.d/n", () => {
    for (const bad of [
      "10.0.0.0",
      "10.0.0.0/33",
      "256.0.0.0/8",
      "010.0.0.0/8",
      "10.0.0/8",
      "10.0.0.0.0/8",
      "10.0.0.0/08",
      "a.b.c.d/8",
      "10.0.0.0/",
      "/8",
      "10.0.0.-1/8",
      " 10.0.0.0/8",
    ]) {
      assert.equal(parseCidr(bad), null, bad);
    }
  });
});

describe("host bits and canonical form", () => {
  it("finds set host bits and names the network", () => {
    const table: [string, boolean, string][] = [
      ["10.0.0.1/8", true, "10.0.0.0/8"],
      ["1.2.3.4/0", true, "0.0.0.0/0"],
      ["203.0.113.77/24", true, "203.0.113.0/24"],
      ["203.0.113.77/32", false, "203.0.113.77/32"],
      ["128.0.0.0/1", false, "128.0.0.0/1"],
      ["172.31.255.255/12", true, "172.16.0.0/12"],
    ];
    for (const [text, host, net] of table) {
      assert.equal(hasHostBits(must(text)), host, text);
      assert.equal(cidrText(networkOf(must(text))), net, text);
    }
  });

  it("prints a parsed range back unchanged", () => {
    for (const text of ["0.0.0.0/0", "10.20.0.0/16", "198.51.100.77/32", "255.255.255.255/32"])
      assert.equal(cidrText(must(text)), text);
  });
});

describe("ranges", () => {
  it("containment", () => {
    const table: [string, string, boolean][] = [
      ["10.1.0.0/16", "10.0.0.0/8", true],
      ["10.0.0.0/8", "10.0.0.0/8", true],
      ["10.0.0.0/7", "10.0.0.0/8", false],
      ["11.0.0.0/8", "10.0.0.0/8", false],
      ["0.0.0.0/0", "0.0.0.0/0", true],
    ];
    for (const [inner, outer, want] of table)
      assert.equal(isWithin(must(inner), must(outer)), want, `${inner} in ${outer}`);
  });

  it("private means wholly inside 10/8, 172.16/12 or 192.168/16", () => {
    const table: [string, boolean][] = [
      ["10.0.0.0/8", true],
      ["172.16.0.0/12", true],
      ["172.31.5.0/24", true],
      ["172.32.0.0/16", false],
      ["192.168.0.0/16", true],
      ["192.168.0.0/15", false],
      ["8.0.0.0/7", false],
    ];
    for (const [text, want] of table) assert.equal(isPrivate(must(text)), want, text);
  });

  it("needs allowPublicIngress: public and broader than a /8 (each half of the internet, /0), not a public /8 or any private range", () => {
    const table: [string, boolean][] = [
      ["0.0.0.0/0", true],
      ["0.0.0.0/1", true],
      ["128.0.0.0/1", true],
      ["64.0.0.0/2", true],
      ["8.0.0.0/7", true],
      ["44.0.0.0/8", false],
      ["203.0.113.0/24", false],
      ["10.0.0.0/8", false],
      ["172.16.0.0/12", false],
      ["192.168.0.0/16", false],
    ];
    for (const [text, want] of table) assert.equal(isBroadPublic(must(text)), want, text);
  });
});
