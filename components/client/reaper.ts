/**
 * The reaper's reach into the world, kept thin: this project's stacks through the Pulumi Automation
 * API and instance states through EC2 DescribeInstances, each behind a small interface so the
 * tests run the reaper against fakes. Decisions live in `components/core/reaper.ts`.
 *
 * Pulumi and the AWS SDK load on first use (a deferred require / dynamic import): each takes a
 * second or more to load, and `--help`, flag errors and the tests need neither.
 */
import type * as Automation from "@pulumi/pulumi/automation";
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import { instanceToLookUp, parseStopTime, type ReaperInstance, type ReaperStackInput } from "../core/reaper";
import { PROJECT_DIR } from "./outputs";

/** One stack as the backend lists it. */
export interface StackListing {
  /** Stack name. */
  readonly name: string;
  /** The last update's time (ISO 8601); absent when never updated. */
  readonly lastUpdate?: string;
  /** An update is running now. */
  readonly updateInProgress: boolean;
}

/** What the reaper needs from Pulumi; deliberately nothing that can create a stack. */
export interface ReaperWorkspace {
  /** This project's stacks. */
  listStacks(): Promise<StackListing[]>;
  /** A stack's outputs, plain values (secrets shown). */
  outputs(stackName: string): Promise<Record<string, unknown>>;
  /** A stack's config, full keys to values as Pulumi prints them (secrets shown). */
  config(stackName: string): Promise<Record<string, string>>;
  /** `pulumi destroy` on the stack, streaming its output. */
  destroy(stackName: string, onOutput: (text: string) => void): Promise<void>;
}

/** What the reaper needs from EC2. */
export interface Ec2Lookup {
  /** The instance's state, or null when EC2 does not know the id; region undefined means the SDK's default. */
  describe(instanceId: string, region: string | undefined): Promise<ReaperInstance | null>;
}

/** The slice of `@pulumi/pulumi/automation` the workspace uses; a test passes a fake with the same shape. */
export interface AutomationApi {
  /** LocalWorkspace's static methods: create and select only. */
  readonly LocalWorkspace: {
    create(opts: { workDir: string }): Promise<{ listStacks(): Promise<Automation.StackSummary[]> }>;
    selectStack(args: { stackName: string; workDir: string }): Promise<{
      outputs(): Promise<Automation.OutputMap>;
      getAllConfig(): Promise<Automation.ConfigMap>;
      destroy(opts: { onOutput: (out: string) => void }): Promise<unknown>;
    }>;
  };
}

/** The reason in a Pulumi CLI failure, without the command dump: its `error:` lines, else its first lines. */
export function pulumiFailure(e: unknown): string {
  const result: unknown = typeof e === "object" && e !== null && "commandResult" in e ? e.commandResult : undefined;
  const text = typeof result === "object" && result !== null && "stderr" in result && typeof result.stderr === "string" && result.stderr.trim() !== "" ? result.stderr : e instanceof Error ? e.message : String(e);
  if (/\bENOENT\b/.test(text)) return "the pulumi CLI was not found on PATH (npm run puts the project's own on PATH; or install Pulumi)";
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const errors = lines.filter((l) => /^error:/i.test(l)).map((l) => l.replace(/^error:\s*/i, ""));
  return (errors.length > 0 ? errors : lines).slice(0, 2).join("; ").slice(0, 300) || "no reason given";
}

/** Load the Automation API on first use. */
async function loadAutomation(): Promise<AutomationApi> {
  // require, not import(): import() resolves like ESM, which refuses the package's directory
  // subpath ("@pulumi/pulumi/automation"); require finds its index.js, as in client/outputs.ts.
  return require("@pulumi/pulumi/automation") as typeof Automation;
}

/**
 * The real workspace: Pulumi's LocalWorkspace over the project folder. Stacks are opened with
 * selectStack, never createOrSelectStack, so a typo or a stale listing cannot conjure a new stack.
 */
export function pulumiWorkspace(workDir: string = PROJECT_DIR, load: () => Promise<AutomationApi> = loadAutomation): ReaperWorkspace {
  let api: Promise<AutomationApi> | undefined;
  const automation = (): Promise<AutomationApi> => (api ??= load());
  // One selected Stack per name, reused for outputs, config and destroy.
  const stacks = new Map<string, ReturnType<AutomationApi["LocalWorkspace"]["selectStack"]>>();
  const stack = (stackName: string): ReturnType<AutomationApi["LocalWorkspace"]["selectStack"]> => {
    let s = stacks.get(stackName);
    if (s === undefined) {
      s = automation().then((a) => a.LocalWorkspace.selectStack({ stackName, workDir }));
      stacks.set(stackName, s);
    }
    return s;
  };
  return {
    async listStacks() {
      const ws = await (await automation()).LocalWorkspace.create({ workDir });
      return (await ws.listStacks()).map((s) => ({ name: s.name, updateInProgress: s.updateInProgress === true, ...(s.lastUpdate !== undefined ? { lastUpdate: s.lastUpdate } : {}) }));
    },
    async outputs(stackName) {
      const outputs = await (await stack(stackName)).outputs();
      return Object.fromEntries(Object.entries(outputs).map(([k, v]): [string, unknown] => [k, v.value]));
    },
    async config(stackName) {
      const config = await (await stack(stackName)).getAllConfig();
      return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v.value]));
    },
    async destroy(stackName, onOutput) {
      await (await stack(stackName)).destroy({ onOutput });
    },
  };
}

/** The instance state from a DescribeInstances answer; null when it lists no such instance. */
export function instanceFromDescribe(out: Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">, instanceId: string): ReaperInstance | null {
  const instance = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  if (instance === undefined) return null;
  const state = instance.State?.Name ?? "unknown";
  if (state === "running") {
    const launchedAt = instance.LaunchTime?.getTime();
    return launchedAt === undefined || !Number.isFinite(launchedAt) ? { state } : { state, launchedAt };
  }
  if (state !== "stopped") return { state };
  const stoppedAt = parseStopTime(instance.StateTransitionReason);
  return stoppedAt === undefined ? { state } : { state, stoppedAt };
}

/** The slice of the EC2 client the lookup uses; a test passes a fake. */
export interface DescribeInstances {
  /** DescribeInstances for one id in one region. */
  (instanceId: string, region: string | undefined): Promise<Pick<Ec2Sdk.DescribeInstancesCommandOutput, "Reservations">>;
}

/** DescribeInstances through `@aws-sdk/client-ec2`, one client per region, credentials from the default chain. */
function sdkDescribeInstances(): DescribeInstances {
  let sdk: Promise<typeof Ec2Sdk> | undefined;
  const clients = new Map<string, Ec2Sdk.EC2Client>();
  return async (instanceId, region) => {
    const { EC2Client, DescribeInstancesCommand } = await (sdk ??= import("@aws-sdk/client-ec2"));
    const key = region ?? "";
    let client = clients.get(key);
    if (client === undefined) {
      client = new EC2Client(region === undefined ? {} : { region });
      clients.set(key, client);
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
        // EC2 forgets terminated instances after about an hour; asking for one then is this error.
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

/**
 * Read every stack of the project with its config, outputs and instance state. One stack at a
 * time: each call is a Pulumi CLI process against the same state backend, and a failure on one
 * stack is recorded on it (kept, with the reason) rather than stopping the others.
 */
export async function gatherStacks(workspace: ReaperWorkspace, ec2: Ec2Lookup): Promise<ReaperStackInput[]> {
  let listing: StackListing[];
  try {
    listing = await workspace.listStacks();
  } catch (e) {
    throw new ReaperError(`cannot list this project's stacks: ${pulumiFailure(e)}`);
  }
  const out: ReaperStackInput[] = [];
  for (const s of listing) {
    const base = { name: s.name, updateInProgress: s.updateInProgress, ...(s.lastUpdate !== undefined ? { lastUpdate: s.lastUpdate } : {}) };
    let config: Record<string, string>;
    let outputs: Record<string, unknown>;
    try {
      config = await workspace.config(s.name);
      outputs = await workspace.outputs(s.name);
    } catch (e) {
      out.push({ ...base, config: {}, outputs: {}, readError: pulumiFailure(e) });
      continue;
    }
    const ref = instanceToLookUp(config, outputs);
    if (ref === undefined) {
      out.push({ ...base, config, outputs });
      continue;
    }
    try {
      out.push({ ...base, config, outputs, instance: await ec2.describe(ref.instanceId, ref.region) });
    } catch (e) {
      out.push({ ...base, config, outputs, instanceError: e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e) });
    }
  }
  return out;
}

/** The outcome of one destroy. */
export interface DestroyResult {
  /** Stack name. */
  readonly stack: string;
  /** Whether `pulumi destroy` succeeded. */
  readonly ok: boolean;
  /** Why it failed. */
  readonly error?: string;
}

/** Destroy each named stack in turn; a failure is recorded and the next stack still runs. */
export async function destroyStacks(workspace: ReaperWorkspace, names: readonly string[], onOutput: (stack: string, text: string) => void): Promise<DestroyResult[]> {
  const results: DestroyResult[] = [];
  for (const name of names) {
    try {
      await workspace.destroy(name, (text) => onOutput(name, text));
      results.push({ stack: name, ok: true });
    } catch (e) {
      results.push({ stack: name, ok: false, error: pulumiFailure(e) });
    }
  }
  return results;
}
