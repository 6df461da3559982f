/**
 * shellcheck on every shell script in the repository (`*.sh` and files with a shell shebang),
 * at warning level and above. Without shellcheck each test fails naming it and its install command
 * (test/helpers/tools.ts).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { requireTool } from "./helpers/tools";

const ROOT = path.resolve(__dirname, "..");
// dist/ holds the package build's copies of the scripts checked here.
const SKIP = new Set(["node_modules", ".git", "bin", "dist"]);

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

/** One shellcheck finding (`-f json1`). */
interface Finding {
  file: string;
  line: number;
  level: string;
  code: number;
  message: string;
}

/**
 * shellcheck run once per folder, from that folder as the per-file runs did (so `-x` finds the
 * sourced files), over every script in it: the findings by absolute file path.
 */
function lintByFolder(scripts: readonly string[]): Map<string, Finding[]> {
  const byDir = new Map<string, string[]>();
  for (const s of scripts) byDir.set(path.dirname(s), [...(byDir.get(path.dirname(s)) ?? []), path.basename(s)]);
  const found = new Map<string, Finding[]>();
  for (const [dir, names] of byDir) {
    const r = spawnSync("shellcheck", ["-S", "warning", "-x", "-f", "json1", ...names], { cwd: dir, encoding: "utf8" });
    // 0: clean, 1: findings; anything else is shellcheck itself failing.
    assert.ok(r.status === 0 || r.status === 1, `shellcheck in ${dir}: ${r.status} ${r.stderr}`);
    for (const f of (JSON.parse(r.stdout) as { comments: Finding[] }).comments) {
      const file = path.resolve(dir, f.file);
      found.set(file, [...(found.get(file) ?? []), f]);
    }
  }
  return found;
}

describe("shellcheck", () => {
  const scripts = shellScripts(ROOT);
  let findings = new Map<string, Finding[]>();
  // Without shellcheck every test below fails with its name and install command, not an empty output.
  before(() => {
    requireTool("shellcheck");
    findings = lintByFolder(scripts);
  });

  it("is installed, and runs", () => {
    const r = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^version: \d+\.\d+/m);
  });

  it("finds the scripts, .ci/run among them", () =>
    assert.ok(scripts.some((s) => s.endsWith(path.join(".ci", "run")))));

  for (const s of scripts) {
    it(`${path.relative(ROOT, s)} passes shellcheck -S warning`, () => {
      const lines = (findings.get(s) ?? []).map((f) => `${f.line}: ${f.level} SC${f.code}: ${f.message}`);
      assert.deepEqual(lines, []);
    });
  }

  it("reports nothing in a file outside the list (a sourced file it followed)", () => {
    assert.deepEqual(
      [...findings.keys()].filter((f) => !scripts.includes(f)),
      [],
    );
  });
});
