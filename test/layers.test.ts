/**
 * The layering rule, checked on the source: data imports nothing; the pure layer (core, engines)
 * imports only data, itself and a few pure libraries, with no Pulumi, no I/O and no clock;
 * nothing under components/ imports an entry point; there are no import cycles.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..");

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const src = readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const re of [/\bfrom\s+"([^"]+)"/g, /\bimport\s*\(\s*"([^"]+)"\s*\)/g, /\brequire\s*\(\s*"([^"]+)"\s*\)/g, /^import\s+"([^"]+)"/gm]) {
    for (const m of src.matchAll(re)) if (m[1] !== undefined) specs.push(m[1]);
  }
  return specs;
}

const rel = (f: string): string => path.relative(ROOT, f).split(path.sep).join("/");
const resolveLocal = (from: string, spec: string): string => {
  const base = path.resolve(path.dirname(from), spec);
  for (const cand of [`${base}.ts`, path.join(base, "index.ts")]) {
    try {
      if (statSync(cand).isFile()) return cand;
    } catch {
      // try the next candidate
    }
  }
  throw new Error(`${rel(from)}: cannot resolve "${spec}"`);
};

const files = [...tsFiles(path.join(ROOT, "components")), ...tsFiles(path.join(ROOT, "scripts")), path.join(ROOT, "index.ts")];
const layerOf = (f: string): string => {
  const r = rel(f);
  if (r.startsWith("components/catalog/")) return "data";
  if (r.startsWith("components/core/") || r.startsWith("components/engines/")) return "pure";
  if (r.startsWith("components/")) return "components";
  return "entry";
};
const RANK: Record<string, number> = { data: 0, pure: 1, components: 2, entry: 3 };
// node:crypto for deterministic hashing only (known_hosts HMAC); its randomness is banned below.
const PURE_PACKAGES = new Set(["zod", "fastest-levenshtein", "yaml", "node:crypto"]);

describe("layers", () => {
  it("finds the source tree", () => assert.ok(files.length >= 10, `${files.length} files`));

  for (const f of files) {
    const layer = layerOf(f);
    it(`${rel(f)} (${layer}) imports only its own layer or below`, () => {
      for (const spec of imports(f)) {
        if (spec.startsWith(".")) {
          const target = resolveLocal(f, spec);
          assert.ok((RANK[layerOf(target)] ?? 9) <= (RANK[layer] ?? 0), `${rel(f)} imports ${rel(target)} (${layerOf(target)})`);
        } else if (layer === "data") {
          assert.fail(`${rel(f)}: data imports package "${spec}"`);
        } else if (layer === "pure") {
          assert.ok(PURE_PACKAGES.has(spec), `${rel(f)}: pure code imports "${spec}"`);
        }
      }
    });
  }

  it("the pure layer touches no clock, environment, randomness or console", () => {
    for (const f of files.filter((x) => RANK[layerOf(x)]! <= 1)) {
      const src = readFileSync(f, "utf8");
      for (const banned of [/\bDate\.now\(/, /\bnew Date\(/, /\bprocess\.(env|argv|exit|stdout|stderr|stdin|cwd|hrtime|platform)\b/, /\bMath\.random\(/, /\brandom(Bytes|UUID|Int|Fill)\b/, /\bconsole\./]) {
        assert.doesNotMatch(src, banned, `${rel(f)} uses ${banned.source}`);
      }
    }
  });

  it("has no import cycles", () => {
    const graph = new Map(files.map((f) => [f, imports(f).filter((s) => s.startsWith(".")).map((s) => resolveLocal(f, s))]));
    const state = new Map<string, "active" | "done">();
    const visit = (f: string, trail: string[]): void => {
      if (state.get(f) === "done") return;
      assert.notEqual(state.get(f), "active", `cycle: ${[...trail, f].map(rel).join(" -> ")}`);
      state.set(f, "active");
      for (const g of graph.get(f) ?? []) visit(g, [...trail, f]);
      state.set(f, "done");
    };
    for (const f of files) visit(f, []);
  });
});
