/**
 * The Pulumi program as `pulumi up` loads it: a child process registers ts-node exactly as
 * @pulumi/pulumi's run harness does (its vendored ts-node with the project's TypeScript and
 * tsconfig, type-checking on), passes each stack file's config through PULUMI_CONFIG as the CLI
 * would, and loads index.ts. Proves the program compiles under Pulumi's loader and reads its config.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..");

const LOADER = `
const tsutils = require("@pulumi/pulumi/tsutils.js");
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const compilerOptions = tsutils.loadTypeScriptCompilerOptions("tsconfig.json");
require(tsnodeRequire).register({
  compiler: typescriptRequire, project: "tsconfig.json", skipProject: false,
  compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...compilerOptions },
});
const program = require(process.cwd() + "/index.ts");
process.stdout.write(JSON.stringify({ tsnode: tsnodeRequire, plan: program.plan }));
`;

function loadProgram(config: Record<string, string>): { tsnode: string; plan: { instance: { type: string }; engine: string } } {
  const out = execFileSync(process.execPath, ["-e", LOADER], {
    cwd: ROOT,
    env: { ...process.env, PULUMI_CONFIG: JSON.stringify(config) },
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(out) as { tsnode: string; plan: { instance: { type: string }; engine: string } };
}

describe("index.ts under Pulumi's TypeScript loader", () => {
  const stacks = readdirSync(path.join(ROOT, "stacks")).filter((f) => /^Pulumi\..+\.yaml$/.test(f));
  it("finds the example stacks", () => assert.ok(stacks.includes("Pulumi.dev.yaml")));

  for (const file of stacks) {
    it(`${file}: compiles, reads the stack config and plans`, () => {
      const doc = parse(readFileSync(path.join(ROOT, "stacks", file), "utf8")) as { config: Record<string, unknown> };
      const config = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
      const r = loadProgram(config);
      assert.match(r.tsnode, /vendor\/ts-node@7\.0\.1$/, "the same ts-node pulumi up uses");
      assert.equal(r.plan.engine, config["qwen3-serve:engine"]);
      assert.equal(typeof r.plan.instance.type, "string");
    });
  }
});
