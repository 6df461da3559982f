/**
 * `npm run lint`'s Python half: Ruff (its official WebAssembly build, so no PyPI is needed) lints
 * and format-checks every tracked .py file; `--write` formats them in place instead.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PositionEncoding, Workspace } from "@astral-sh/ruff-wasm-nodejs";

/** Ruff's settings: the machine's Python is 3.12 (Ubuntu 24.04), the sidecar image's newer. */
const SETTINGS = {
  "line-length": 120,
  "target-version": "py312",
  lint: { select: ["E", "F", "W", "B", "UP", "I"] },
};

/** One finding from Ruff's diagnostics. */
interface Finding {
  readonly code: string | null;
  readonly message: string;
  readonly start_location: { readonly row: number; readonly column: number };
}

const root = path.resolve(__dirname, "..");
const files = execFileSync("git", ["ls-files", "*.py"], { cwd: root, encoding: "utf8" }).split("\n").filter(Boolean);
const workspace = new Workspace(SETTINGS, PositionEncoding.Utf16);
const write = process.argv.includes("--write");
let problems = 0;
for (const file of files) {
  const full = path.join(root, file);
  const source = readFileSync(full, "utf8");
  const formatted = workspace.format(source);
  if (write && formatted !== source) writeFileSync(full, formatted);
  else if (formatted !== source) {
    problems++;
    console.error(`${file}: not formatted (run npm run format)`);
  }
  for (const d of workspace.check(write ? formatted : source) as Finding[]) {
    problems++;
    console.error(`${file}:${d.start_location.row}:${d.start_location.column}: ${d.code ?? "syntax"} ${d.message}`);
  }
}
console.log(`ruff ${Workspace.version()}: ${files.length} Python files, ${problems} problem(s)`);
process.exitCode = problems === 0 ? 0 : 1;
