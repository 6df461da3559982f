/**
 * The Node.js floor in package.json is honest: every package the lock file installs accepts the
 * oldest Node that `engines.node` admits. A dependency that needs a newer Node than the floor
 * (as @pulumi/pulumi 3.249+ and openai 7 need Node 22) fails here, before a user on the floor
 * meets it as an install warning or a crash.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import semver from "semver";

const root = path.join(__dirname, "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};

describe("Node.js floor", () => {
  it("package.json engines.node is >=20.19, the Node these machines and CI run", () => {
    assert.equal(pkg.engines.node, ">=20.19");
  });

  it("every package in package-lock.json accepts Node 20.19.0, the floor's oldest version", () => {
    const floor = semver.minVersion(pkg.engines.node);
    assert.ok(floor !== null);
    assert.equal(floor.version, "20.19.0");
    const refusing = Object.entries(lock.packages)
      .filter(([name]) => name !== "")
      .flatMap(([name, entry]) => {
        const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        return range !== undefined && !semver.satisfies(floor, range)
          ? [`${name}@${entry.version ?? "?"} needs node ${range}`]
          : [];
      });
    assert.deepEqual(refusing, []);
  });
});
