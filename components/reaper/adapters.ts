/**
 * The reaper's reach into the world, kept thin: this project's stacks through the Pulumi CLI and
 * instance states and tags through EC2 DescribeInstances, each behind a small interface so the
 * tests run the reaper against fakes. Decisions live in `./rules.ts`.
 *
 * Every Pulumi command names its stack with `--stack`, and none is `pulumi stack select`: the
 * user's selected stack (kept per project and backend in ~/.pulumi/workspaces) stays as it was.
 * (The Automation API's selectStack runs `pulumi stack select`, which is why the CLI is called
 * directly: sdk/nodejs/automation/localWorkspace.ts, selectStack, read in @pulumi/pulumi 3.276 and 3.248.)
 *
 * The AWS SDK loads on first use (a dynamic import): it takes a second or more to load, and
 * `--help`, flag errors and the tests need none of it.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import { z } from "zod";
import {
  instanceToLookUp,
  missingMarkers,
  parseStopTime,
  type ReapDecision,
  type ReaperInstance,
  type ReaperStackInput,
} from "./rules";
import { PROJECT_DIR, pulumiFailure } from "../stacks/outputs";

/** One stack as the backend lists it. */
export interface StackListing {
  /** Stack name, as `pulumi stack ls` prints it and `--stack` takes it. */
  readonly name: string;
  /** The last update's time (ISO 8601); absent when never updated. */
  readonly lastUpdate?: string;
  /** An update is running now. */
  readonly updateInProgress: boolean;
}

/** What the reaper needs from Pulumi; deliberately nothing that can create or select a stack. */
export interface ReaperWorkspace {
  /** The stacks the backend lists for this project (on a legacy file backend: every project's). */
  listStacks(): Promise<StackListing[]>;
  /** A stack's deployed outputs, plain values (secrets blinded: the reaper needs none). */
  outputs(stackName: string): Promise<Record<string, unknown>>;
  /** The config of the stack's last update, as deployed; full keys to values, secrets left out. */
  deployedConfig(stackName: string): Promise<Record<string, string>>;
  /** The checkout's stack file config, secrets left out; only a last resort for the region. */
  config(stackName: string): Promise<Record<string, string>>;
  /** `pulumi destroy` on the stack, streaming its output. */
  destroy(stackName: string, onOutput: (text: string) => void): Promise<void>;
}

/** What the reaper needs from EC2. */
export interface Ec2Lookup {
  /** The instance's state and tags in that region, or null when EC2 there does not know the id. */
  describe(instanceId: string, region: string): Promise<ReaperInstance | null>;
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
export function pulumiWorkspace(run: PulumiRunner = pulumiCli()): ReaperWorkspace {
  return {
    async listStacks() {
      const list = parseJson(listingJson, await run(["stack", "ls", "--json"]), "stack ls --json");
      return list.map((s) => ({
        name: s.name,
        updateInProgress: s.updateInProgress === true,
        ...(s.lastUpdate !== undefined ? { lastUpdate: s.lastUpdate } : {}),
      }));
    },
    async outputs(stackName) {
      return parseJson(
        outputsJson,
        await run(["stack", "output", "--json", "--stack", stackName]),
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

/** The instance state and tags from a DescribeInstances answer; null when it lists no such instance. */
export function instanceFromDescribe(
  out: Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">,
  instanceId: string,
): ReaperInstance | null {
  const instance = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  if (instance === undefined) return null;
  const state = instance.State?.Name ?? "unknown";
  const tags = Object.fromEntries(
    (instance.Tags ?? []).flatMap((t) => (t.Key === undefined ? [] : [[t.Key, t.Value ?? ""]])),
  );
  if (state === "running") {
    const launchedAt = instance.LaunchTime?.getTime();
    return launchedAt === undefined || !Number.isFinite(launchedAt) ? { state, tags } : { state, launchedAt, tags };
  }
  if (state !== "stopped") return { state, tags };
  const stoppedAt = parseStopTime(instance.StateTransitionReason);
  return stoppedAt === undefined ? { state, tags } : { state, stoppedAt, tags };
}

/** The slice of the EC2 client the lookup uses; a test passes a fake. */
export type DescribeInstances = (
  instanceId: string,
  region: string,
) => Promise<Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">>;

/** DescribeInstances through `@aws-sdk/client-ec2`, one client per region (always given), credentials from the default chain. */
function sdkDescribeInstances(): DescribeInstances {
  let sdk: Promise<typeof Ec2Sdk> | undefined;
  const clients = new Map<string, Ec2Sdk.EC2Client>();
  return async (instanceId, region) => {
    sdk ??= import("@aws-sdk/client-ec2");
    const { EC2Client, DescribeInstancesCommand } = await sdk;
    let client = clients.get(region);
    if (client === undefined) {
      client = new EC2Client({ region });
      clients.set(region, client);
    }
    return client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  };
}

/** The real EC2 lookup (or one over a given DescribeInstances); an unknown id is null, not an error. */
export function awsEc2Lookup(describeInstances: DescribeInstances = sdkDescribeInstances()): Ec2Lookup {
  return {
    async describe(instanceId, region) {
      try {
        return instanceFromDescribe(await describeInstances(instanceId, region), instanceId);
      } catch (e) {
        // EC2 forgets terminated instances after about an hour, and knows an instance only in its own region.
        if (e instanceof Error && e.name === "InvalidInstanceID.NotFound") return null;
        throw e;
      }
    },
  };
}

/** A failure to list the stacks at all: the reaper can decide nothing. */
export class ReaperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReaperError";
  }
}

const errorText = (e: unknown): string =>
  e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);

/** The checkout's config for a region of last resort; an unreadable or missing stack file is no config. */
async function checkoutConfig(workspace: ReaperWorkspace, name: string): Promise<Record<string, string>> {
  try {
    return await workspace.config(name);
  } catch {
    return {};
  }
}

/**
 * Read one listed stack from its deployment: outputs first (a stack without this program's
 * markers is not read further), then the last update's config, then the instance in its region.
 */
export async function gatherStack(
  workspace: ReaperWorkspace,
  ec2: Ec2Lookup,
  s: StackListing,
): Promise<ReaperStackInput> {
  const base = {
    name: s.name,
    updateInProgress: s.updateInProgress,
    ...(s.lastUpdate !== undefined ? { lastUpdate: s.lastUpdate } : {}),
  };
  let outputs: Record<string, unknown>;
  let deployedConfig: Record<string, string>;
  try {
    outputs = await workspace.outputs(s.name);
    if (missingMarkers(outputs) !== undefined) return { ...base, outputs, deployedConfig: {} };
    deployedConfig = await workspace.deployedConfig(s.name);
  } catch (e) {
    return { ...base, outputs: {}, deployedConfig: {}, readError: pulumiFailure(e) };
  }
  let ref = instanceToLookUp(outputs, deployedConfig);
  if (ref === undefined) return { ...base, outputs, deployedConfig };
  if (ref.region === undefined)
    ref = instanceToLookUp(outputs, deployedConfig, await checkoutConfig(workspace, s.name)) ?? ref;
  const instanceRef = ref;
  if (instanceRef.region === undefined) {
    // The SDK's default region would be the reaper's, not the stack's: a wrong "not found", or another account's view.
    return {
      ...base,
      outputs,
      deployedConfig,
      instanceRef,
      instanceError: "no region recorded (no awsRegion output, no aws:region in the stack config)",
    };
  }
  try {
    return {
      ...base,
      outputs,
      deployedConfig,
      instanceRef,
      instance: await ec2.describe(instanceRef.instanceId, instanceRef.region),
    };
  } catch (e) {
    return { ...base, outputs, deployedConfig, instanceRef, instanceError: errorText(e) };
  }
}

/** List the backend's stacks, throwing ReaperError when it cannot. */
async function listOrFail(workspace: ReaperWorkspace): Promise<StackListing[]> {
  try {
    return await workspace.listStacks();
  } catch (e) {
    throw new ReaperError(`cannot list this project's stacks: ${pulumiFailure(e)}`);
  }
}

/**
 * Read every listed stack. One stack at a time: each read is a Pulumi CLI process against the same
 * state backend, and a failure on one stack is recorded on it (kept, with the reason) rather than
 * stopping the others.
 */
export async function gatherStacks(workspace: ReaperWorkspace, ec2: Ec2Lookup): Promise<ReaperStackInput[]> {
  const out: ReaperStackInput[] = [];
  for (const s of await listOrFail(workspace)) out.push(await gatherStack(workspace, ec2, s));
  return out;
}

/** A fresh look at one stack just before acting on it; undefined when the backend no longer lists it. */
export async function recheckStack(
  workspace: ReaperWorkspace,
  ec2: Ec2Lookup,
  name: string,
): Promise<ReaperStackInput | undefined> {
  const listing = (await listOrFail(workspace)).find((s) => s.name === name);
  return listing === undefined ? undefined : gatherStack(workspace, ec2, listing);
}

/** The outcome of one destroy. */
export interface DestroyResult {
  /** Stack name. */
  readonly stack: string;
  /** Whether nothing failed (destroyed, or kept after the fresh look). */
  readonly ok: boolean;
  /** Why the fresh look just before the destroy kept it; the stack was not destroyed. */
  readonly kept?: string;
  /** Why it failed. */
  readonly error?: string;
}

/**
 * Destroy each named stack in turn, deciding again from a fresh look just before each destroy
 * (someone may have extended, restarted or retagged it since the listing); a failure is recorded
 * and the next stack still runs.
 */
export async function destroyStacks(
  workspace: ReaperWorkspace,
  names: readonly string[],
  onOutput: (stack: string, text: string) => void,
  recheck: (stack: string) => Promise<ReapDecision>,
): Promise<DestroyResult[]> {
  const results: DestroyResult[] = [];
  for (const name of names) {
    try {
      const fresh = await recheck(name);
      if (fresh.decision !== "destroy") {
        results.push({ stack: name, ok: true, kept: fresh.reason });
        continue;
      }
      await workspace.destroy(name, (text) => onOutput(name, text));
      results.push({ stack: name, ok: true });
    } catch (e) {
      results.push({ stack: name, ok: false, error: e instanceof ReaperError ? e.message : pulumiFailure(e) });
    }
  }
  return results;
}
