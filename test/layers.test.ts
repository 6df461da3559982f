/**
 * The layering rule, checked on the source: the folders of components/ form one ordered list (LAYERS)
 * and no import climbs it; data imports nothing; pure files import only pure files and a few pure
 * libraries, with no Pulumi, no I/O and no clock; nothing under components/ imports an entry point;
 * there are no import cycles.
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
  for (const re of [
    // import/export statements only, so a string or comment holding `from "` is not read as one.
    /^(?:import|export)\b[^"';]*?\bfrom\s+"([^"]+)"/gm,
    /\bimport\s*\(\s*"([^"]+)"\s*\)/g,
    /\brequire\s*\(\s*"([^"]+)"\s*\)/g,
    /^import\s+"([^"]+)"/gm,
  ]) {
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

const files = [
  ...tsFiles(path.join(ROOT, "components")),
  ...tsFiles(path.join(ROOT, "scripts")),
  path.join(ROOT, "index.ts"),
];

/**
 * The folders in import order: a file imports only from its own folder or one listed above it, so a
 * drawing of the imports has no arrow climbing back up. `pure` lists the files held to the pure rule
 * (no Pulumi, no I/O): "*" for the whole folder.
 */
const LAYERS: readonly { dir: string; kind: "data" | "pure" | "components" | "entry"; pure?: readonly string[] }[] = [
  { dir: "components/catalog", kind: "data" },
  { dir: "components/errors", kind: "pure" },
  { dir: "components/text", kind: "pure" },
  { dir: "components/footprint", kind: "pure" },
  { dir: "components/engines", kind: "pure" },
  { dir: "components/throughput", kind: "pure" },
  { dir: "components/coldstart", kind: "pure" },
  { dir: "components/sizing", kind: "pure" },
  { dir: "components/quota", kind: "components", pure: ["rules.ts"] },
  { dir: "components/config", kind: "pure" },
  { dir: "components/mirror", kind: "components", pure: ["keys.ts", "policy.ts"] },
  { dir: "components/machine", kind: "components", pure: ["render.ts"] },
  { dir: "components/stacks", kind: "components", pure: ["inventoryRules.ts"] },
  { dir: "components/fleet", kind: "pure" },
  { dir: "components/smoke", kind: "components", pure: ["options.ts", "report.ts", "stats.ts", "estimate.ts"] },
  { dir: "components/reaper", kind: "components", pure: ["rules.ts", "weightsRules.ts"] },
  { dir: "components/status", kind: "components", pure: ["cost.ts", "rules.ts"] },
  { dir: "components/bake", kind: "components", pure: ["rules.ts"] },
  { dir: "components/targets", kind: "components" },
  { dir: "components/program", kind: "components" },
  { dir: "components", kind: "components" },
  { dir: "scripts", kind: "entry" },
  { dir: "", kind: "entry" },
];

/** A file's place in LAYERS: its folder's index, and whether the pure rule binds it. */
const placeOf = (f: string): { rank: number; kind: string; pure: boolean } => {
  const r = rel(f);
  const dir = path.posix.dirname(r) === "." ? "" : path.posix.dirname(r);
  const rank = LAYERS.findIndex(
    (l) => dir === l.dir || (l.dir !== "components" && l.dir !== "" && dir.startsWith(`${l.dir}/`)),
  );
  assert.ok(rank >= 0, `${r} lies in no folder of LAYERS: add its folder there`);
  const layer = LAYERS[rank];
  assert.ok(layer !== undefined);
  const pure = layer.kind === "data" || layer.kind === "pure" || (layer.pure ?? []).includes(path.posix.basename(r));
  return { rank, kind: layer.kind, pure };
};
// node:crypto for deterministic hashing only (known_hosts HMAC); its randomness is banned below.
const PURE_PACKAGES = new Set(["zod", "fastest-levenshtein", "yaml", "node:crypto"]);

describe("layers", () => {
  it("finds the source tree", () => assert.ok(files.length >= 10, `${files.length} files`));

  for (const f of files) {
    const place = placeOf(f);
    it(`${rel(f)} (${LAYERS[place.rank]?.dir || "top"}${place.pure ? ", pure" : ""}) imports only its own folder or folders below it`, () => {
      for (const spec of imports(f)) {
        if (spec.startsWith(".")) {
          const target = placeOf(resolveLocal(f, spec));
          assert.ok(target.rank <= place.rank, `${rel(f)} imports ${spec}, from a folder above its own`);
          if (place.pure) assert.ok(target.pure, `${rel(f)} is pure but imports ${spec}, which is not`);
        } else if (place.kind === "data") {
          assert.fail(`${rel(f)}: data imports package "${spec}"`);
        } else if (place.pure) {
          assert.ok(PURE_PACKAGES.has(spec), `${rel(f)}: pure code imports "${spec}"`);
        }
      }
    });
  }

  it("the pure layer touches no clock, environment, randomness or console", () => {
    for (const f of files.filter((x) => placeOf(x).pure)) {
      const src = readFileSync(f, "utf8");
      for (const banned of [
        /\bDate\.now\(/,
        /\bnew Date\(/,
        /\bprocess\.(env|argv|exit|stdout|stderr|stdin|cwd|hrtime|platform)\b/,
        /\bMath\.random\(/,
        /\brandom(Bytes|UUID|Int|Fill)\b/,
        /\bconsole\./,
      ]) {
        assert.doesNotMatch(src, banned, `${rel(f)} uses ${banned.source}`);
      }
    }
  });

  it("has no import cycles", () => {
    const graph = new Map(
      files.map((f) => [
        f,
        imports(f)
          .filter((s) => s.startsWith("."))
          .map((s) => resolveLocal(f, s)),
      ]),
    );
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
