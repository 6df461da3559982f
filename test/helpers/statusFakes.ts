/**
 * Fakes for `npm run status`: an in-memory Pulumi workspace, EC2 and Auto Scaling answering in the SDK's
 * shapes (through the real lookups' parsers), and a world of run dependencies over them. Also the module
 * the CLI loads under QWEN3_SERVE_STATUS_TEST_FAKES (`statusCliDeps`), for the --watch child-process test.
 */
import type * as AsgSdk from "@aws-sdk/client-auto-scaling";
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import { awsEc2Lookup, awsGroupLookup } from "../../components/stacks/inventory";
import type { StackListing, StackWorkspace } from "../../components/stacks/workspace";
import type { ProbeResult } from "../../components/status/rules";
import type { StatusDeps } from "../../components/status/status";
import { inventorySource, type StatusCliDeps } from "../../scripts/status";

/** One stack in the fake backend. */
export interface FakeStatusStack {
  readonly name: string;
  /** Deployed outputs, secrets included (the fake shows them only when asked with showSecrets). */
  readonly outputs: Record<string, unknown>;
  /** The last update's config. */
  readonly config?: Record<string, string>;
  /** `pulumi stack output` fails with this stderr. */
  readonly outputFails?: string;
  /** The EC2 instance, as DescribeInstances lists it. */
  readonly instance?: Ec2Sdk.Instance;
  /** The Auto Scaling group, as DescribeAutoScalingGroups lists it, and its activities. */
  readonly group?: AsgSdk.AutoScalingGroup;
  readonly activities?: AsgSdk.Activity[];
}

/** A Pulumi CLI failure as the workspace's runner rejects: stderr in commandResult. */
const cliFailure = (stderr: string): Error =>
  Object.assign(new Error("pulumi exited 255"), { commandResult: { stdout: "", stderr, code: 255 } });

/** The workspace over the stacks; `listFails` makes the listing fail; `delayMs` slows each outputs read. */
export function fakeWorkspace(
  stacks: readonly FakeStatusStack[],
  opts: { listFails?: string; delayMs?: number; onRead?: (name: string) => void } = {},
): StackWorkspace {
  const find = (name: string): FakeStatusStack => {
    const s = stacks.find((x) => x.name === name);
    if (s === undefined) throw cliFailure(`error: no stack named '${name}' found`);
    return s;
  };
  return {
    async listStacks(): Promise<StackListing[]> {
      if (opts.listFails !== undefined) throw cliFailure(opts.listFails);
      return stacks.map((s) => ({ name: s.name, updateInProgress: false, lastUpdate: "2026-11-29T09:00:00Z" }));
    },
    async outputs(name, o = {}) {
      opts.onRead?.(name);
      if (opts.delayMs !== undefined) await new Promise((r) => setTimeout(r, opts.delayMs));
      const s = find(name);
      if (s.outputFails !== undefined) throw cliFailure(s.outputFails);
      // Like `pulumi stack output --json`: secrets read "[secret]" without --show-secrets.
      return o.showSecrets === true ? { ...s.outputs } : { ...s.outputs, apiKey: "[secret]" };
    },
    async deployedConfig(name) {
      return { ...(find(name).config ?? {}) };
    },
    async config() {
      return {};
    },
    async destroy() {
      throw new Error("the status view never destroys");
    },
  };
}

/** EC2 DescribeInstances over the stacks' instances: an unknown id is the SDK's InvalidInstanceID.NotFound. */
export function fakeEc2(stacks: readonly FakeStatusStack[]) {
  return awsEc2Lookup(async (instanceId) => {
    const instance = stacks.find((s) => s.instance?.InstanceId === instanceId)?.instance;
    if (instance === undefined)
      throw Object.assign(new Error(`The instance ID '${instanceId}' does not exist`), {
        name: "InvalidInstanceID.NotFound",
      });
    return { Reservations: [{ Instances: [instance] }] };
  });
}

/** Auto Scaling over the stacks' groups: an unknown name is an empty list, as the API answers. */
export function fakeAutoScaling(stacks: readonly FakeStatusStack[]) {
  return awsGroupLookup({
    describeGroups: async (name) => ({
      AutoScalingGroups: stacks.flatMap((s) => (s.group?.AutoScalingGroupName === name ? [s.group] : [])),
    }),
    describeActivities: async (name) => ({
      Activities: stacks.find((s) => s.group?.AutoScalingGroupName === name)?.activities ?? [],
    }),
  });
}

/** What a world recorded. */
export interface WorldLog {
  out: string;
  err: string;
}

/** The run's dependencies over fake stacks; the probe and status reads are the given ones. */
export function fakeWorld(
  stacks: readonly FakeStatusStack[],
  live: Pick<StatusDeps, "probe" | "statusDoc"> & Partial<StatusDeps>,
  opts: { listFails?: string; delayMs?: number; onRead?: (name: string) => void; now?: number } = {},
): { deps: StatusDeps; log: WorldLog } {
  const log: WorldLog = { out: "", err: "" };
  const source = inventorySource({
    workspace: fakeWorkspace(stacks, opts),
    ec2: fakeEc2(stacks),
    autoScaling: fakeAutoScaling(stacks),
  });
  const deps: StatusDeps = {
    source,
    // The child-process fakes carry no cost history; test/monthCost.test.ts covers the wired reader.
    monthCost: async () => ({ unavailable: "the fakes carry no cost history" }),
    now: () => opts.now ?? Date.parse("2026-11-30T12:00:00Z"),
    out: (t) => {
      log.out += t;
    },
    err: (t) => {
      log.err += t;
    },
    progressTty: false,
    signals: process,
    timers: { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as NodeJS.Timeout) },
    ...live,
  };
  return { deps, log };
}

/** Outputs of an AWS single-machine stack as components/program/deploy.ts exports them (key included). */
export function awsOutputs(o: {
  endpoint: string;
  apiKey: string;
  instanceId: string;
  instanceType: string;
  zone: string;
  price: number;
  model?: string;
  engine?: string;
}): Record<string, unknown> {
  const model = o.model ?? "Qwen3-8B";
  const root = o.endpoint.replace(/\/v1$/, "");
  return {
    endpoint: o.endpoint,
    modelName: model,
    apiKey: o.apiKey,
    instanceId: o.instanceId,
    publicIp: "",
    instanceType: o.instanceType,
    pricePerHour: o.price,
    amiId: "ami-0123456789abcdef0",
    connectCommand: `aws ssm start-session --region us-east-1 --target ${o.instanceId}`,
    portForwardCommand: "n/a",
    curlExample: "curl ...",
    statusUrl: `${root}/qwen3-serve/status`,
    awsRegion: o.zone.slice(0, -1),
    availabilityZone: o.zone,
    plan: { version: 1, engine: o.engine ?? "vllm", model: { id: model } },
  };
}

/** The module hook for the child-process --watch test: two stacks, no network, real signals and timers. */
export function statusCliDeps(): StatusCliDeps {
  const stacks: FakeStatusStack[] = [
    {
      name: "dev",
      outputs: awsOutputs({
        endpoint: "http://dev.invalid/v1",
        apiKey: "sk-dev",
        instanceId: "i-0123456789abcdef0",
        instanceType: "g6.xlarge",
        zone: "us-east-1a",
        price: 0.8048,
      }),
      instance: { InstanceId: "i-0123456789abcdef0", State: { Name: "stopped" }, Tags: [] },
    },
  ];
  const ok: ProbeResult = { ok: true, latencyMs: 42, modelListed: true };
  const { deps } = fakeWorld(stacks, { probe: async () => ok, statusDoc: async () => ({ error: "not read" }) });
  return {
    stdoutTty: true,
    status: {
      ...deps,
      now: () => Date.now(),
      out: (t) => void process.stdout.write(t),
      err: (t) => void process.stderr.write(t),
    },
  };
}
