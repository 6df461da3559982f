/**
 * What the watchdog's sandbox tests share: the real idle.py, a fixed clock, one check as the timer
 * runs it, and readers for the access log and the status file it writes.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Sandbox } from "./sandbox";

/** The watchdog script the machines run. */
export const IDLE_PY = path.resolve(__dirname, "..", "..", "components", "machine", "idle.py");
/** A fixed "now": 2027-01-15T08:00:00Z. */
export const T = 1_800_000_000;
/** One minute in seconds. */
export const MIN = 60;
/** A time in seconds as the watchdog writes it (ISO 8601, whole seconds). */
export const isoOf = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Run one watchdog check at a simulated time, as the timer would. */
export function check(
  sb: Sandbox,
  now: number,
  extraEnv: Record<string, string> = {},
  via: "idle.sh" | "idle.py" = "idle.sh",
): { code: number; out: string } {
  const lib = sb.p("usr/local/lib/qwen3-serve");
  const argv =
    via === "idle.sh" ? ["bash", path.join(lib, "idle.sh")] : ["python3", path.join(lib, "idle.py"), "check"];
  const r = spawnSync(argv[0] ?? "bash", argv.slice(1), {
    env: { ...sandboxEnv(sb), QS_NOW: String(now), QS_BOOT_ID: "sandbox-boot", ...extraEnv },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The sandbox's environment, as the bootstrap's units see it. */
export function sandboxEnv(sb: Sandbox): Record<string, string> {
  return Object.fromEntries(
    sb
      .envWords()
      .match(/(\w+)='((?:[^']|'\\'')*)'/g)
      ?.map((w) => {
        const i = w.indexOf("=");
        return [w.slice(0, i), w.slice(i + 2, -1).replace(/'\\''/g, "'")];
      }) ?? [],
  );
}

/** The proxy's access log in a sandbox. */
export const accessLog = (sb: Sandbox): string => sb.p("var/log/qwen3-serve/access.log");
/** The watchdog's record in the status file under a machine root. */
export const idleRecordAt = (root: string): Record<string, unknown> =>
  (
    JSON.parse(readFileSync(path.join(root, "var/lib/qwen3-serve/status.json"), "utf8")) as {
      idle: Record<string, unknown>;
    }
  ).idle;
/** The watchdog's record in a sandbox's status file. */
export const idleRecord = (sb: Sandbox): Record<string, unknown> => idleRecordAt(sb.root);

/** A small chat completion request body. */
export const COMPLETION = JSON.stringify({
  model: "Qwen3-8B",
  messages: [{ role: "user", content: "hi" }],
  max_tokens: 4,
});

/**
 * The access log's last line, once it matches `want`: nginx writes a request's line as it
 * finishes it, which may be after the client has the response. Polls for at most 10 s.
 */
export async function lastLogLine(sb: Sandbox, want: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = existsSync(accessLog(sb)) ? (readFileSync(accessLog(sb), "utf8").trim().split("\n").at(-1) ?? "") : "";
    if (want.test(line) || Date.now() > deadline) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A log line in the proxy's own format: a real line from nginx with only its time changed. */
export function logAt(sb: Sandbox, template: string, t: number): void {
  const stamp = new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00");
  appendFileSync(accessLog(sb), `${stamp}${template.slice(template.indexOf(" "))}\n`);
}
