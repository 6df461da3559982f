/**
 * Builds the package another Pulumi program installs: compiles components/index.ts and the
 * scripts its command steps run (listed in tsconfig.build.json) into dist/ (JavaScript and
 * declarations; Pulumi's ts-node does not compile TypeScript inside node_modules), then copies the
 * machine-side files the code reads next to itself at run time (*.sh, *.py, *.conf under components/). npm runs it as `prepare`: on
 * `npm ci` here, on `npm pack`, and when a project installs this repository from git.
 */
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const OUT = path.join(ROOT, "dist");

/** Files under a folder that are not TypeScript, relative to it; caches and dotfiles stay out. */
function assets(dir: string, rel = ""): string[] {
  return readdirSync(path.join(dir, rel)).flatMap((name) => {
    if (name.startsWith(".") || name === "__pycache__") return [];
    const r = path.join(rel, name);
    if (statSync(path.join(dir, r)).isDirectory()) return assets(dir, r);
    return name.endsWith(".ts") ? [] : [r];
  });
}

rmSync(OUT, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(ROOT, "tsconfig.build.json")], {
  stdio: "inherit",
});
const components = path.join(ROOT, "components");
for (const rel of assets(components)) cpSync(path.join(components, rel), path.join(OUT, "components", rel));
