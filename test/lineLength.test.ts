/**
 * Lines stay readable (issue 11, item 8): Biome wraps code at 120 columns but never breaks a string
 * literal, a comment or a shell line, so this caps every tracked source file (TypeScript, JavaScript,
 * shell, Python, nginx config) at 160 characters. Markdown is prose and tables, which a renderer wraps,
 * so it is left out. The one exception is a line that holds nothing but a URL, which cannot be split
 * without breaking it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..");
const MAX = 160;

/**
 * A URL alone on its line: bare, after a comment or list marker, as a string or `key: "…"` value, or in
 * angle brackets or parentheses, with at most a trailing comma, semicolon or closing bracket.
 */
const LONE_URL =
  /^\s*(?:(?:\/\/|\/\*+|\*|#|-|>)\s*)?(?:[\w$.-]+\s*[:=]\s*)?["'`<(]?https?:\/\/\S+?["'`>)]?[,;)\]]*\s*$/;

const isLoneUrl = (line: string): boolean => LONE_URL.test(line);

/** Source files a reader reads line by line. */
const SOURCE = /\.(ts|js|sh|py|conf)$/;

/** Tracked source files. */
function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" });
  return out
    .split("\0")
    .filter((f) => SOURCE.test(f))
    .filter((f) => existsSync(path.join(ROOT, f)));
}

/** `file:line (length)` for each line over MAX characters (code points) that is not a lone URL. */
function longLines(): string[] {
  const found: string[] = [];
  for (const file of trackedFiles()) {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    if (text.includes("\0")) continue; // binary
    text.split(/\r?\n/).forEach((line, i) => {
      const length = [...line].length;
      if (length > MAX && !isLoneUrl(line)) found.push(`${file}:${i + 1} (${length})`);
    });
  }
  return found;
}

describe("line length", () => {
  it("no tracked source line is longer than 160 characters, except a lone URL", () => {
    const found = longLines();
    assert.deepEqual(found, [], `${found.length} lines over ${MAX} characters:\n${found.join("\n")}`);
  });

  it("counts as a lone URL a bare, commented, quoted or keyed URL, but not a URL with other words on its line", () => {
    const url = `https://example.com/${"a".repeat(170)}`;
    for (const line of [
      url,
      `  // ${url}`,
      ` * ${url}`,
      `# ${url}`,
      `  "${url}",`,
      `  source: '${url}',`,
      `<${url}>`,
    ]) {
      assert.equal(isLoneUrl(line), true, line.slice(0, 40));
    }
    for (const line of [`see ${url}`, `  "read ${url}",`, `${url} and more`, `  // from ${url}`, "x".repeat(170)]) {
      assert.equal(isLoneUrl(line), false, line.slice(0, 40));
    }
  });
});
