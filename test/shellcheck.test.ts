/**
 * shellcheck on every shell script in the repository (`*.sh` and files with a shell shebang),
 * at warning level and above. Fails when shellcheck is missing: `bash scripts/test-tools.sh` installs it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..");
const SKIP = new Set(["node_modules", ".git", "bin"]);

function shellScripts(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...shellScripts(p));
    else if (name.endsWith(".sh") || /^#!.*\b(ba|da)?sh\b/.test(readFileSync(p, "utf8").slice(0, 64))) out.push(p);
  }
  return out;
}

describe("shellcheck", () => {
  it("is installed (apt-get install shellcheck)", () => {
    const r = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
    assert.equal(
      r.status,
      0,
      "shellcheck not found: run `apt-get install shellcheck` (or `bash scripts/test-tools.sh`)",
    );
  });

  const scripts = shellScripts(ROOT);
  it("finds the scripts, .ci/run among them", () =>
    assert.ok(scripts.some((s) => s.endsWith(path.join(".ci", "run")))));

  for (const s of scripts) {
    it(`${path.relative(ROOT, s)} passes shellcheck -S warning`, () => {
      const r = spawnSync("shellcheck", ["-S", "warning", "-x", s], { cwd: path.dirname(s), encoding: "utf8" });
      assert.equal(r.status, 0, r.stdout);
    });
  }
});
