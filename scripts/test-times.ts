/**
 * `npm run test:times`: the suite's time per test file, slowest first, and the total wall time.
 * It runs the type check, then every test/*.test.ts file as `npm test` would (same command, same
 * number of files at once, read from the `test` script's --test-concurrency), timing each file's
 * process. It prints figures; it asserts nothing. Pass file paths to time only those files.
 * Exit code: 0 when every file passed, 1 when any failed (the figures are printed either way).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..");

/** One timed child process. */
interface Timing {
  readonly name: string;
  readonly seconds: number;
  /** CPU seconds, user and system, of the process and its children. */
  readonly cpu: number;
  readonly code: number;
  readonly summary: string;
  /** The spec reporter's failure lines (test names and their first error line), for a file that failed. */
  readonly failures: readonly string[];
}

/** How many files `npm test` runs at once: its --test-concurrency, else node's default for one process. */
function concurrency(): number {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts?: { test?: string } };
  const m = /--test-concurrency[= ](\d+)/.exec(pkg.scripts?.test ?? "");
  return m?.[1] === undefined ? 1 : Number(m[1]);
}

/** Seconds from bash's `times` output ("0m1.250s"). */
function clock(word: string | undefined): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(word ?? "");
  return m === null ? Number.NaN : Number(m[1]) * 60 + Number(m[2]);
}

/**
 * Run argv from the repository root under bash, whose `times` (on fd 3) gives the CPU seconds of
 * everything it waited for: a figure that other load on the machine changes far less than wall time.
 */
function timed(name: string, argv: readonly string[]): Promise<Timing> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const script = '"$@"; rc=$?; times >&3; exit $rc';
    const child = spawn("bash", ["-c", script, "bash", ...argv], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    let out = "";
    let times = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.stdio[3]?.on("data", (d: Buffer) => (times += d.toString()));
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const [user, sys] = (times.trim().split("\n")[1] ?? "").split(" ");
      const counts = ["pass", "fail"].map((k) => new RegExp(`^ℹ ${k} (\\d+)$`, "m").exec(out)?.[0]?.slice(2));
      const summary = counts.filter(Boolean).join(", ");
      const failures = out.split("\n").filter((l) => /^\s*✖ /.test(l) && !/subtests? failed/.test(l));
      resolve({ name, seconds, cpu: clock(user) + clock(sys), code: code ?? -1, summary, failures });
    });
  });
}

/** Run tasks with at most `width` in flight, in the given order. */
async function pool<T>(tasks: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      const task = tasks[i];
      if (task !== undefined) results[i] = await task();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, worker));
  return results;
}

/** A right-aligned seconds column. */
function secs(n: number): string {
  return n.toFixed(1).padStart(7);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const files =
    args.length > 0
      ? args
      : readdirSync(path.join(ROOT, "test"))
          .filter((f) => f.endsWith(".test.ts"))
          .sort()
          .map((f) => `test/${f}`);
  const width = concurrency();
  // Other work on the machine stretches wall times: the load averages say how busy it was.
  const load = (): string => os.loadavg()[0]?.toFixed(1) ?? "?";
  const loadBefore = load();
  const start = process.hrtime.bigint();
  const typecheck = await timed("typecheck (tsc --noEmit)", ["npx", "tsc", "--noEmit", "-p", "."]);
  const testStart = process.hrtime.bigint();
  const tests = await pool(
    files.map((f) => () => timed(f, [process.execPath, "--import", "tsx", "--test", "--test-reporter=spec", f])),
    width,
  );
  const end = process.hrtime.bigint();
  const rows = [typecheck, ...tests].sort((a, b) => b.seconds - a.seconds);
  console.log(`${"wall s".padStart(7)}  ${"cpu s".padStart(7)}  file (${files.length} test files, ${width} at a time)`);
  for (const r of rows)
    console.log(`${secs(r.seconds)}  ${secs(r.cpu)}  ${r.name}${r.code === 0 ? "" : `  FAILED (${r.summary})`}`);
  const sum = (k: "seconds" | "cpu"): number => tests.reduce((s, r) => s + r[k], 0);
  console.log(`${secs(sum("seconds"))}  ${secs(sum("cpu"))}  sum of test files`);
  console.log(`${secs(Number(end - testStart) / 1e9)}  ${" ".repeat(7)}  tests, wall`);
  console.log(`${secs(Number(end - start) / 1e9)}  ${" ".repeat(7)}  total, wall (what \`npm test\` takes)`);
  console.log(`1-minute load average: ${loadBefore} before, ${load()} after, on ${os.cpus().length} cores`);
  const failed = rows.filter((r) => r.code !== 0);
  if (failed.length > 0) console.log(`${failed.length} failed: ${failed.map((r) => r.name).join(", ")}`);
  for (const r of failed) for (const line of [...new Set(r.failures)]) console.log(`  ${r.name}: ${line.trim()}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

void main();
