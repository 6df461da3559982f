/**
 * The stack inventory the reaper and `npm run status` share (components/stacks/inventory.ts),
 * against a fake workspace (failures shaped like the Pulumi CLI's: the reason on an `error:` line of
 * stderr), a fake EC2 answering like DescribeInstances (an instance exists in one region only;
 * elsewhere InvalidInstanceID.NotFound) and a fake Auto Scaling answering like
 * DescribeAutoScalingGroups / DescribeScalingActivities. It proves: a mixed set of stacks reads
 * into the exact records, sorted by name; at most `concurrency` stacks are in flight and all
 * finish; progress is reported once per stack; a stack that fails is recorded and the others go
 * on; a failed listing throws InventoryError; and the $/h now of each kind of stack.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Activity, AutoScalingGroup } from "@aws-sdk/client-auto-scaling";
import type { Instance } from "@aws-sdk/client-ec2";
import {
  type AutoScalingCalls,
  awsEc2Lookup,
  awsGroupLookup,
  type DescribeInstances,
  type Ec2Lookup,
  type InventoryDeps,
  InventoryError,
  readInventory,
  type StackRecord,
} from "../components/stacks/inventory";
import { hourlyCostNow, type MachineView } from "../components/stacks/inventoryRules";
import type { StackListing, StackWorkspace } from "../components/stacks/workspace";

const iid = (hex: string): string => `i-${hex.padStart(17, "0")}`;
const tags = (stack: string): Record<string, string> => ({
  "qwen3-serve:project": "qwen3-serve",
  "qwen3-serve:stack": stack,
});
const PLAN = { version: 1, engine: "vllm", model: { id: "Qwen/Qwen3-8B" } };
/** This program's outputs for a single machine (components/program/deploy.ts, components/targets/outputs.ts). */
const machineOutputs = (name: string, instanceId: string, extra: Record<string, unknown> = {}) => ({
  plan: PLAN,
  endpoint: `http://${name}.example:8080/v1`,
  modelName: "Qwen/Qwen3-8B",
  instanceId,
  apiKey: "[secret]",
  pricePerHour: 1.861,
  awsRegion: "us-east-1",
  ...extra,
});
const GROUP = "qwen3-serve-fleet-server";
/** A fleet's outputs (components/targets/aws.ts): the group's name and region, the first candidate's price per replica. */
const FLEET_OUTPUTS = {
  plan: PLAN,
  endpoint: "http://team-alb.example/v1",
  modelName: "Qwen/Qwen3-8B",
  instanceId: GROUP,
  apiKey: "[secret]",
  pricePerHour: 1.861,
  autoScalingGroupName: GROUP,
  awsRegion: "eu-west-1",
  replicas: { min: 0, max: 4, desired: 0 },
};

/** A fake workspace's stack: its listing, outputs (or the CLI's error line), last update's config. */
interface FakeStack {
  listing: StackListing;
  outputs: Record<string, unknown> | { fails: string };
  deployed?: Record<string, string> | { fails: string };
}

/** A rejection shaped like pulumiCli's: the command's stderr in `commandResult`. */
const cliError = (reason: string): Error =>
  Object.assign(new Error("pulumi exited 255"), {
    commandResult: { stdout: "", stderr: `error: ${reason}\n`, code: 255 },
  });

/** A workspace over fake stacks; `calls` logs what was asked; `gate` runs before each answer. */
function fakeWorkspace(
  stacks: readonly FakeStack[],
  gate: (call: string) => Promise<void> = async () => undefined,
): { workspace: StackWorkspace; calls: string[] } {
  const calls: string[] = [];
  const find = (name: string): FakeStack => {
    const s = stacks.find((x) => x.listing.name === name);
    if (s === undefined) throw cliError(`no stack named '${name}' found`);
    return s;
  };
  const workspace: StackWorkspace = {
    listStacks: async () => stacks.map((s) => s.listing),
    outputs: async (name, opts) => {
      calls.push(`outputs ${name}${opts?.showSecrets === true ? " --show-secrets" : ""}`);
      await gate(`outputs ${name}`);
      const o = find(name).outputs;
      if ("fails" in o && typeof o.fails === "string") throw cliError(o.fails);
      return o;
    },
    deployedConfig: async (name) => {
      calls.push(`history ${name}`);
      await gate(`history ${name}`);
      const d = find(name).deployed ?? {};
      if ("fails" in d && typeof d.fails === "string") throw cliError(d.fails);
      return d;
    },
    config: async (name) => {
      calls.push(`config ${name}`);
      return {};
    },
    destroy: async () => assert.fail("the inventory never destroys"),
  };
  return { workspace, calls };
}

/** An instance in the fake EC2, in the fields DescribeInstances answers with. */
type FakeInstance = { region: string } & Pick<Instance, "State" | "LaunchTime" | "StateTransitionReason" | "Tags">;

/** DescribeInstances over fake instances: unknown, or in another region, is InvalidInstanceID.NotFound, as EC2 answers. */
function fakeEc2(instances: Record<string, FakeInstance>, gate: () => Promise<void> = async () => undefined) {
  const asked: string[] = [];
  const describe: DescribeInstances = async (id, region) => {
    asked.push(`${id}@${region}`);
    await gate();
    const i = instances[id];
    if (i === undefined || i.region !== region)
      throw Object.assign(new Error(`The instance ID '${id}' does not exist`), { name: "InvalidInstanceID.NotFound" });
    const { region: _, ...fields } = i;
    return { Reservations: [{ Instances: [{ InstanceId: id, InstanceType: "g6e.xlarge", ...fields }] }] };
  };
  return { ec2: awsEc2Lookup(describe), asked };
}

const tagList = (t: Record<string, string>) => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));

/** Auto Scaling over one fleet group in eu-west-1: at zero, with two past activities. */
function fakeAutoScaling(): AutoScalingCalls {
  const group: Partial<AutoScalingGroup> = {
    AutoScalingGroupName: GROUP,
    DesiredCapacity: 0,
    MinSize: 0,
    MaxSize: 4,
    Instances: [],
    CreatedTime: new Date("2026-11-01T00:00:00Z"),
    Tags: tagList(tags("c-fleet")).map((t) => ({ ...t, PropagateAtLaunch: true })),
  };
  const activities = [
    { StartTime: new Date("2026-11-29T22:00:00Z"), EndTime: new Date("2026-11-29T22:04:00Z") },
    { StartTime: new Date("2026-11-29T12:00:00Z"), EndTime: new Date("2026-11-29T12:03:00Z") },
  ] as Activity[];
  return {
    describeGroups: async (name, region) => ({
      AutoScalingGroups: name === GROUP && region === "eu-west-1" ? [group as AutoScalingGroup] : [],
    }),
    describeActivities: async () => ({ Activities: activities }),
  };
}

const A = iid("a");
const B = iid("b");
const F = iid("f");
const G = iid("9");

/** Listed out of order on purpose: the records come back sorted by name. */
const MIXED: FakeStack[] = [
  {
    listing: { name: "f-busy", updateInProgress: true, lastUpdate: "2026-11-30T09:00:00.000Z" },
    outputs: machineOutputs("f-busy", F),
    deployed: { "aws:region": "us-east-1" },
  },
  {
    listing: { name: "a-run", updateInProgress: false, lastUpdate: "2026-11-29T08:00:00.000Z" },
    outputs: machineOutputs("a-run", A),
    deployed: { "aws:region": "us-east-1", "qwen3-serve:target": "aws" },
  },
  {
    listing: { name: "e-broken", updateInProgress: false },
    outputs: { fails: "could not read the stack file" },
  },
  {
    listing: { name: "c-fleet", updateInProgress: false, lastUpdate: "2026-11-20T08:00:00.000Z" },
    outputs: FLEET_OUTPUTS,
    deployed: { "aws:region": "eu-west-1", "qwen3-serve:fleet": '{"minReplicas":0,"maxReplicas":4}' },
  },
  {
    listing: { name: "b-stop", updateInProgress: false, lastUpdate: "2026-11-25T08:00:00.000Z" },
    outputs: machineOutputs("b-stop", B),
    deployed: { "aws:region": "us-east-1" },
  },
  {
    listing: { name: "d-ws", updateInProgress: false, lastUpdate: "2026-11-28T08:00:00.000Z" },
    outputs: machineOutputs("d-ws", "ubuntu@gpu-box", { pricePerHour: 0, awsRegion: undefined }),
    deployed: { "qwen3-serve:target": "workstation" },
  },
  {
    listing: { name: "g-gone", updateInProgress: false, lastUpdate: "2026-11-01T08:00:00.000Z" },
    outputs: machineOutputs("g-gone", G),
    deployed: { "aws:region": "us-east-1" },
  },
  {
    listing: { name: "h-shop", updateInProgress: false, lastUpdate: "2026-10-01T10:00:00.000Z" },
    outputs: { url: "https://shop.example", instanceId: iid("5") },
    deployed: { "aws:region": "us-east-1" },
  },
];

const MIXED_EC2: Record<string, FakeInstance> = {
  [A]: {
    region: "us-east-1",
    State: { Code: 16, Name: "running" },
    LaunchTime: new Date("2026-11-30T07:00:00Z"),
    StateTransitionReason: "",
    Tags: tagList(tags("a-run")),
  },
  [B]: {
    region: "us-east-1",
    State: { Code: 80, Name: "stopped" },
    LaunchTime: new Date("2026-11-28T08:00:00Z"),
    StateTransitionReason: "User initiated (2026-11-28 18:30:00 GMT)",
    Tags: tagList(tags("b-stop")),
  },
  [F]: {
    region: "us-east-1",
    State: { Code: 0, Name: "pending" },
    LaunchTime: new Date("2026-11-30T09:01:00Z"),
    StateTransitionReason: "",
    Tags: tagList(tags("f-busy")),
  },
};

const listing = (name: string): StackListing => {
  const s = MIXED.find((x) => x.listing.name === name);
  assert.ok(s !== undefined);
  return s.listing;
};
const outputsOf = (name: string): Record<string, unknown> => {
  const o = MIXED.find((x) => x.listing.name === name)?.outputs;
  assert.ok(o !== undefined && !("fails" in o));
  return o;
};

describe("the stack inventory", () => {
  it("reads a mixed set into the exact records, sorted by name, and asks EC2 only about AWS machines in their regions", async () => {
    const { workspace, calls } = fakeWorkspace(MIXED);
    const { ec2, asked } = fakeEc2(MIXED_EC2);
    const records = await readInventory({
      workspace,
      ec2,
      autoScaling: awsGroupLookup(fakeAutoScaling()),
      concurrency: 2,
    });
    const want: StackRecord[] = [
      {
        name: "a-run",
        listing: listing("a-run"),
        outputs: outputsOf("a-run"),
        deployedConfig: { "aws:region": "us-east-1", "qwen3-serve:target": "aws" },
        target: "aws",
        machine: {
          kind: "instance",
          ref: { instanceId: A, region: "us-east-1" },
          instance: { state: "running", launchedAt: Date.parse("2026-11-30T07:00:00Z"), tags: tags("a-run") },
          error: undefined,
        },
        error: undefined,
        errors: [],
      },
      {
        name: "b-stop",
        listing: listing("b-stop"),
        outputs: outputsOf("b-stop"),
        deployedConfig: { "aws:region": "us-east-1" },
        target: "aws",
        machine: {
          kind: "instance",
          ref: { instanceId: B, region: "us-east-1" },
          instance: { state: "stopped", stoppedAt: Date.parse("2026-11-28T18:30:00Z"), tags: tags("b-stop") },
          error: undefined,
        },
        error: undefined,
        errors: [],
      },
      {
        name: "c-fleet",
        listing: listing("c-fleet"),
        outputs: FLEET_OUTPUTS,
        deployedConfig: { "aws:region": "eu-west-1", "qwen3-serve:fleet": '{"minReplicas":0,"maxReplicas":4}' },
        target: "aws",
        machine: {
          kind: "group",
          ref: { name: GROUP, region: "eu-west-1" },
          group: {
            desired: 0,
            min: 0,
            max: 4,
            instances: 0,
            createdAt: Date.parse("2026-11-01T00:00:00Z"),
            lastActivityAt: Date.parse("2026-11-29T22:04:00Z"),
            tags: tags("c-fleet"),
          },
          error: undefined,
        },
        error: undefined,
        errors: [],
      },
      {
        name: "d-ws",
        listing: listing("d-ws"),
        outputs: outputsOf("d-ws"),
        deployedConfig: { "qwen3-serve:target": "workstation" },
        target: "workstation",
        machine: { kind: "none", reason: "workstation target: no AWS machine to read" },
        error: undefined,
        errors: [],
      },
      {
        name: "e-broken",
        listing: listing("e-broken"),
        outputs: null,
        deployedConfig: {},
        target: undefined,
        machine: { kind: "none", reason: "not read: the stack could not be read" },
        error: "could not read the stack file",
        errors: ["cannot read the stack: could not read the stack file"],
      },
      {
        name: "f-busy",
        listing: { name: "f-busy", updateInProgress: true, lastUpdate: "2026-11-30T09:00:00.000Z" },
        outputs: outputsOf("f-busy"),
        deployedConfig: { "aws:region": "us-east-1" },
        target: "aws",
        machine: {
          kind: "instance",
          ref: { instanceId: F, region: "us-east-1" },
          instance: { state: "pending", tags: tags("f-busy") },
          error: undefined,
        },
        error: undefined,
        errors: [],
      },
      {
        name: "g-gone",
        listing: listing("g-gone"),
        outputs: outputsOf("g-gone"),
        deployedConfig: { "aws:region": "us-east-1" },
        target: "aws",
        machine: { kind: "instance", ref: { instanceId: G, region: "us-east-1" }, instance: null, error: undefined },
        error: undefined,
        errors: [],
      },
      {
        name: "h-shop",
        listing: listing("h-shop"),
        outputs: { url: "https://shop.example", instanceId: iid("5") },
        deployedConfig: {},
        target: undefined,
        machine: { kind: "none", reason: "not a qwen3-serve deployment: its outputs lack plan, endpoint, modelName" },
        error: undefined,
        errors: [],
      },
    ];
    assert.deepEqual(records, want);
    assert.deepEqual(asked.toSorted(), [`${G}@us-east-1`, `${A}@us-east-1`, `${B}@us-east-1`, `${F}@us-east-1`]);
    // Another program's stack is not read past its outputs; no secrets asked for unless showSecrets.
    assert.ok(!calls.includes("history h-shop"), calls.join(", "));
    assert.ok(!calls.some((c) => c.includes("--show-secrets")), calls.join(", "));
  });

  it("reads outputs with secrets shown only when asked (status needs the API key)", async () => {
    const { workspace, calls } = fakeWorkspace([MIXED[3] as FakeStack]);
    const deps: InventoryDeps = {
      workspace,
      ec2: fakeEc2({}).ec2,
      autoScaling: awsGroupLookup(fakeAutoScaling()),
      concurrency: 1,
      showSecrets: true,
    };
    await readInventory(deps);
    assert.deepEqual(calls, ["outputs c-fleet --show-secrets", "history c-fleet"]);
  });

  it("with concurrency 3 and 10 slow stacks never has more than 3 in flight, reaches 3, and finishes all 10", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `s${String(i).padStart(2, "0")}`);
    const stacks: FakeStack[] = names.map((name, i) => ({
      listing: { name, updateInProgress: false },
      outputs: machineOutputs(name, iid(`c${i}`)),
      deployed: { "aws:region": "us-east-1" },
    }));
    const instances = Object.fromEntries(
      names.map((name, i): [string, FakeInstance] => [
        iid(`c${i}`),
        { region: "us-east-1", State: { Code: 16, Name: "running" }, Tags: tagList(tags(name)) },
      ]),
    );
    let inFlight = 0;
    let most = 0;
    // A stack is in flight from its first call (outputs) until its last (the EC2 lookup) answers.
    const slow = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const { workspace } = fakeWorkspace(stacks, async (call) => {
      if (call.startsWith("outputs ")) {
        inFlight += 1;
        most = Math.max(most, inFlight);
      }
      await slow(1 + (call.length % 3));
    });
    const { ec2 } = fakeEc2(instances, async () => {
      await slow(2);
      inFlight -= 1;
    });
    const progress: [number, number][] = [];
    const records = await readInventory({
      workspace,
      ec2,
      autoScaling: awsGroupLookup(fakeAutoScaling()),
      concurrency: 3,
      onProgress: (done, total) => progress.push([done, total]),
    });
    assert.equal(most, 3);
    assert.equal(inFlight, 0);
    assert.deepEqual(
      records.map((r) => [r.name, r.machine.kind === "instance" ? r.machine.instance?.state : undefined]),
      names.map((n) => [n, "running"]),
    );
    assert.deepEqual(
      progress,
      names.map((_, i) => [i + 1, 10]),
    );
  });

  it("one stack whose reads fail is recorded with the reason, and the other stacks are all read", async () => {
    const names = ["p1", "p2", "p3", "p4", "p5"];
    const stacks: FakeStack[] = names.map((name, i) => ({
      listing: { name, updateInProgress: false },
      outputs: machineOutputs(name, iid(`d${i}`)),
      deployed:
        name === "p3"
          ? { fails: "the stack's history is unreadable: permission denied" }
          : { "aws:region": "us-east-1" },
    }));
    const instances = Object.fromEntries(
      names.map((name, i): [string, FakeInstance] => [
        iid(`d${i}`),
        { region: "us-east-1", State: { Code: 80, Name: "stopped" }, Tags: tagList(tags(name)) },
      ]),
    );
    const { workspace } = fakeWorkspace(stacks);
    const { ec2: answering } = fakeEc2(instances);
    const ec2: Ec2Lookup = {
      describe: (id, region) =>
        id === iid("d1")
          ? Promise.reject(Object.assign(new Error("socket hang up"), { name: "TimeoutError" }))
          : answering.describe(id, region),
    };
    const progress: number[] = [];
    const records = await readInventory({
      workspace,
      ec2,
      autoScaling: awsGroupLookup(fakeAutoScaling()),
      concurrency: 2,
      onProgress: (done) => progress.push(done),
    });
    assert.deepEqual(
      records.map((r) => [r.name, r.errors]),
      [
        ["p1", []],
        ["p2", [`instance ${iid("d1")} unreadable: TimeoutError: socket hang up`]],
        ["p3", ["cannot read the stack: the stack's history is unreadable: permission denied"]],
        ["p4", []],
        ["p5", []],
      ],
    );
    assert.equal(records[2]?.error, "the stack's history is unreadable: permission denied");
    assert.deepEqual(progress, [1, 2, 3, 4, 5]);
  });

  it("a listing that fails throws InventoryError with the CLI's reason; a concurrency below 1 is refused", async () => {
    const { workspace } = fakeWorkspace([]);
    const deps = { ec2: fakeEc2({}).ec2, autoScaling: awsGroupLookup(fakeAutoScaling()), concurrency: 2 };
    const failing: StackWorkspace = {
      ...workspace,
      listStacks: () => Promise.reject(cliError("PULUMI_ACCESS_TOKEN must be set")),
    };
    await assert.rejects(readInventory({ ...deps, workspace: failing }), (e: unknown) => {
      assert.ok(e instanceof InventoryError);
      assert.equal(e.message, "cannot list this project's stacks: PULUMI_ACCESS_TOKEN must be set");
      return true;
    });
    await assert.rejects(readInventory({ ...deps, workspace, concurrency: 0 }), RangeError);
    assert.deepEqual(await readInventory({ ...deps, workspace }), []);
  });
});

describe("$/h now", () => {
  const running: MachineView = {
    kind: "instance",
    ref: { instanceId: A, region: "us-east-1" },
    instance: { state: "running", tags: {} },
    error: undefined,
  };
  const fleetOf = (desired: number): MachineView => ({
    kind: "group",
    ref: { name: GROUP, region: "eu-west-1" },
    group: { desired, min: 0, max: 4, instances: desired, tags: {} },
    error: undefined,
  });

  it("is the price for a running instance, 0 stopped or pending, price x desired for a fleet, 0 for machines you own", () => {
    const price = { pricePerHour: 1.861 };
    assert.equal(hourlyCostNow(price, running), 1.861);
    assert.equal(hourlyCostNow(price, { ...running, instance: { state: "stopped", tags: {} } }), 0);
    assert.equal(hourlyCostNow(price, { ...running, instance: { state: "pending", tags: {} } }), 0);
    assert.equal(hourlyCostNow(price, fleetOf(2)), 3.722);
    assert.equal(hourlyCostNow(price, fleetOf(0)), 0);
    assert.equal(hourlyCostNow({ pricePerHour: 0 }, { kind: "none", reason: "workstation target" }), 0);
  });

  it("is unknown (null) without a price, for unreadable outputs, or when the machine was not seen", () => {
    assert.equal(hourlyCostNow({}, running), null);
    assert.equal(hourlyCostNow(null, running), null);
    assert.equal(hourlyCostNow({ pricePerHour: "1.861" }, running), null);
    assert.equal(hourlyCostNow({ pricePerHour: 1.861 }, { ...running, instance: null, error: "AccessDenied" }), null);
    assert.equal(
      hourlyCostNow(
        { pricePerHour: 1.861 },
        { kind: "group", ref: { name: GROUP, region: "eu-west-1" }, group: null, error: undefined },
      ),
      null,
    );
  });
});
