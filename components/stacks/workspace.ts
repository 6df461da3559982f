/**
 * This project's stacks through the Pulumi CLI: list them, read a stack's outputs and deployed
 * config, destroy one. The reaper and the smoke client share it.
 *
 * Every command names its stack with `--stack`, and none is `pulumi stack select`: the user's
 * selected stack (kept per project and backend in ~/.pulumi/workspaces) stays as it was. (The
 * Automation API's selectStack runs `pulumi stack select`, which is why the CLI is called directly:
 * https://github.com/pulumi/pulumi/blob/v3.248.0/sdk/nodejs/automation/localWorkspace.ts, selectStack,
 * read 2026-11-30.)
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

/** This project's folder, where Pulumi.yaml is. */
export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

/** One stack as the backend lists it. */
export interface StackListing {
  /** Stack name, as `pulumi stack ls` prints it and `--stack` takes it. */
  readonly name: string;
  /** The last update's time (ISO 8601); absent when never updated. */
  readonly lastUpdate?: string;
  /** An update is running now. */
  readonly updateInProgress: boolean;
}

/** What this project's tools need from Pulumi; deliberately nothing that can create or select a stack. */
export interface StackWorkspace {
  /** The stacks the backend lists for this project (on a legacy file backend: every project's). */
  listStacks(): Promise<StackListing[]>;
  /**
   * A stack's deployed outputs, plain values. Secrets read "[secret]" unless `showSecrets` (the
   * smoke client needs the API key; the reaper needs none).
   */
  outputs(stackName: string, opts?: { readonly showSecrets?: boolean }): Promise<Record<string, unknown>>;
  /** The config of the stack's last update, as deployed; full keys to values, secrets left out. */
  deployedConfig(stackName: string): Promise<Record<string, string>>;
  /** The checkout's stack file config, secrets left out; only a last resort for the region. */
  config(stackName: string): Promise<Record<string, string>>;
  /** `pulumi destroy` on the stack, streaming its output. */
  destroy(stackName: string, onOutput: (text: string) => void): Promise<void>;
}

/** Runs one Pulumi CLI command; resolves to its stdout, rejects with the stderr in `commandResult`. */
export type PulumiRunner = (args: readonly string[], onStdout?: (text: string) => void) => Promise<string>;

/** Where and how the CLI runs: the project folder, the executable, the environment. */
export interface PulumiCliOptions {
  /** The folder with Pulumi.yaml. */
  readonly workDir?: string;
  /** The executable (default `pulumi`, found on PATH). */
  readonly command?: string;
  /** The environment (default this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** The real Pulumi CLI as a child process; never interactive, so a cron run cannot hang on a prompt. */
export function pulumiCli(opts: PulumiCliOptions = {}): PulumiRunner {
  return (args, onStdout) =>
    new Promise((resolve, reject) => {
      const child = spawn(opts.command ?? "pulumi", [...args, "--non-interactive"], {
        cwd: opts.workDir ?? PROJECT_DIR,
        env: { ...(opts.env ?? process.env), PULUMI_SKIP_UPDATE_CHECK: "true" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (t: string) => {
        stdout += t;
        onStdout?.(t);
      });
      child.stderr.setEncoding("utf8").on("data", (t: string) => {
        stderr += t;
      });
      child.on("error", reject);
      child.on("close", (code) => {
        if (code === 0) resolve(stdout);
        else
          reject(
            Object.assign(new Error(`pulumi ${args.join(" ")} exited ${code ?? "on a signal"}`), {
              commandResult: { stdout, stderr, code },
            }),
          );
      });
    });
}

// The JSON shapes the CLI prints (pulumi/pulumi pkg/cmd/pulumi/stack: stack_list.go stackSummaryJSON,
// stack_history.go updateInfoJSON and configValueJSON; read 2026-11-30). Unknown fields pass.
const listingJson = z.array(
  z.object({ name: z.string(), lastUpdate: z.string().optional(), updateInProgress: z.boolean().optional() }),
);
const configValueJson = z.object({ value: z.string().optional(), secret: z.boolean().optional() });
const configJson = z.record(z.string(), configValueJson);
const historyJson = z.array(z.object({ config: configJson.optional() }));
const outputsJson = z.record(z.string(), z.unknown());

/** Parse a command's JSON answer, naming the command when it is not the expected shape. */
function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`\`pulumi ${what}\` did not print JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`\`pulumi ${what}\` printed JSON of an unexpected shape`);
  return parsed.data;
}

/** Config entries to plain values; secrets (no value without --show-secrets) are left out. */
const configValues = (config: z.infer<typeof configJson>): Record<string, string> =>
  Object.fromEntries(Object.entries(config).flatMap(([k, v]) => (v.value === undefined ? [] : [[k, v.value]])));

/** The real workspace over the Pulumi CLI: `--stack` on every per-stack command, no secrets asked for. */
export function pulumiWorkspace(run: PulumiRunner = pulumiCli()): StackWorkspace {
  return {
    async listStacks() {
      const list = parseJson(listingJson, await run(["stack", "ls", "--json"]), "stack ls --json");
      return list.map((s) => ({
        name: s.name,
        updateInProgress: s.updateInProgress === true,
        ...(s.lastUpdate !== undefined ? { lastUpdate: s.lastUpdate } : {}),
      }));
    },
    async outputs(stackName, opts = {}) {
      const secrets = opts.showSecrets === true ? ["--show-secrets"] : [];
      return parseJson(
        outputsJson,
        await run(["stack", "output", "--json", ...secrets, "--stack", stackName]),
        "stack output --json",
      );
    },
    async deployedConfig(stackName) {
      // The backend lists updates newest first (pkg/backend/diy/state.go getHistory), so page 1 of size 1 is the last.
      const history = parseJson(
        historyJson,
        await run(["stack", "history", "--json", "--page-size", "1", "--stack", stackName]),
        "stack history --json",
      );
      return configValues(history[0]?.config ?? {});
    },
    async config(stackName) {
      return configValues(
        parseJson(configJson, await run(["config", "--json", "--stack", stackName]), "config --json"),
      );
    },
    async destroy(stackName, onOutput) {
      await run(["destroy", "--yes", "--skip-preview", "--stack", stackName], onOutput);
    },
  };
}

/** This program's project name, from the `name:` line of Pulumi.yaml in the project folder. */
export function projectName(workDir: string = PROJECT_DIR): string {
  const m = /^name:\s*["']?([A-Za-z0-9_.-]+)/m.exec(readFileSync(path.join(workDir, "Pulumi.yaml"), "utf8"));
  if (m?.[1] === undefined) throw new Error(`no project name in ${path.join(workDir, "Pulumi.yaml")}`);
  return m[1];
}

/** The reason in a Pulumi CLI failure, without the command dump: its `error:` lines, else its first lines. */
export function pulumiFailure(e: unknown): string {
  const result: unknown = typeof e === "object" && e !== null && "commandResult" in e ? e.commandResult : undefined;
  const text =
    typeof result === "object" &&
    result !== null &&
    "stderr" in result &&
    typeof result.stderr === "string" &&
    result.stderr.trim() !== ""
      ? result.stderr
      : e instanceof Error
        ? e.message
        : String(e);
  if (/\bENOENT\b/.test(text))
    return "the pulumi CLI was not found on PATH (npm run puts the project's own on PATH; or install Pulumi)";
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const errors = lines.filter((l) => /^error:/i.test(l)).map((l) => l.replace(/^error:\s*/i, ""));
  return (errors.length > 0 ? errors : lines).slice(0, 2).join("; ").slice(0, 300) || "no reason given";
}
