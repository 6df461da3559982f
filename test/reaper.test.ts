/**
 * The reaper (`npm run reap`). It proves: the decision table with exact reasons (expired by the
 * instance's expires-at tag, not yet expired, running past its TTL tag plus the watchdog's slack and
 * just inside it, TTL without a start time, TTL ignored for a stopped instance, stopped longer and
 * shorter than the limit and exactly at it, stop time unknown, running, update in progress, Docker
 * and workstation stacks from the last update's config, malformed tags, instance or stack
 * unreadable, no region); that only stacks whose outputs carry this program's markers and whose
 * instance carries our project and stack tags are ever destroyed; the stop time and tags parsed
 * from EC2's answer; the region from the outputs, then the deployed config, never the reaper's
 * default; the CLI workspace (--stack on every command, no `stack select`, no secrets asked for)
 * against a fake `pulumi` (test/fixtures/fake-pulumi.js) that keeps a selected stack and lists
 * every project's stacks like a legacy file backend; and the whole command in-process against that
 * fake CLI and a fake EC2 that answers like DescribeInstances: a dry run destroys nothing, --yes
 * destroys exactly the chosen stacks after a fresh look at each, the selected stack is unchanged
 * afterwards, a failing destroy exits 1 while the others still run, --json is one object, stacks
 * are read in name order through the shared inventory, and the table shows $/h now and this
 * month's cost from the cost hook ("n/a" without one). As a child process: --help and bad flags
 * (exit 2, no stack trace).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { _InstanceType, InstanceStateName } from "@aws-sdk/client-ec2";
import type { Activity, AutoScalingGroup } from "@aws-sdk/client-auto-scaling";
import { gatherStacks } from "../components/reaper/adapters";
import {
  awsEc2Lookup,
  awsGroupLookup,
  groupFromDescribe,
  instanceFromDescribe,
  type AutoScalingCalls,
  type DescribeInstances,
  type GroupLookup,
} from "../components/stacks/inventory";
import { isUserError } from "../components/errors/userError";
import {
  projectName,
  pulumiCli,
  pulumiFailure,
  pulumiWorkspace,
  type StackWorkspace,
} from "../components/stacks/workspace";
import { type FakeBackend, type FakeStack, fakePulumi } from "./helpers/fakePulumi";
import {
  decideStack,
  formatDuration,
  groupToLookUp,
  instanceToLookUp,
  keptBlind,
  missingMarkers,
  parseReapSettings,
  parseStopTime,
  regionFromOutputs,
  regionOf,
  type ReapDecision,
  type ReaperGroup,
  type ReaperInstance,
  type ReaperStackInput,
} from "../components/reaper/rules";
import { runReap, type ReapDeps } from "../scripts/reap";

const ROOT = path.resolve(__dirname, "..");
const NO_STACK = /^\s+at /m;
const H = 3_600_000;
const NOW = Date.parse("2026-11-29T10:00:00Z");
const PROJECT = "qwen3-serve";
const SETTINGS = { now: NOW, stoppedForHours: 72, project: PROJECT };
/** An EC2-shaped instance id: "i-" and 17 hex digits. */
const iid = (hex: string): string => `i-${hex.padStart(17, "0")}`;
const ID = iid("abc");
const ourTags = (stackName: string): Record<string, string> => ({
  "qwen3-serve:project": PROJECT,
  "qwen3-serve:stack": stackName,
  "qwen3-serve:owner": "ana",
});

/** This program's outputs (components/program/deploy.ts: the shared target outputs and the plan). */
function ourOutputs(name: string, instanceId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    plan: { version: 1, engine: "vllm", model: { id: "Qwen/Qwen3-8B" }, instance: { type: "g6e.xlarge" } },
    endpoint: `http://${name}.example:8080/v1`,
    modelName: "Qwen/Qwen3-8B",
    instanceId,
    apiKey: "sk-live-key",
    // The plan's price for g6e.xlarge in us-east-1 (components/catalog/regions.ts), as an AWS stack exports it.
    pricePerHour: 1.861,
    connectCommand: `aws ssm start-session --region us-east-1 --target ${instanceId}`,
    ...extra,
  };
}

/** An AWS stack named "s", ours, with a running instance and no lifetime tags, changed by `over` (`tags` adds to ours). */
function stack(
  over: Partial<ReaperStackInput> & { inst?: Partial<ReaperInstance>; tags?: Record<string, string> } = {},
): ReaperStackInput {
  const { inst, tags, ...rest } = over;
  return {
    name: "s",
    updateInProgress: false,
    outputs: ourOutputs("s", ID),
    deployedConfig: { "aws:region": "us-east-1" },
    instanceRef: { instanceId: ID, region: "us-east-1" },
    instance: { state: "running", ...inst, tags: { ...ourTags("s"), ...tags } },
    ...rest,
  };
}
const machine = (target: string, config: Record<string, string> = {}): ReaperStackInput => ({
  name: "m",
  updateInProgress: false,
  outputs: ourOutputs("m", target === "docker" ? "3f4e5d6c7b8a" : "ubuntu@gpu-box"),
  deployedConfig: { "qwen3-serve:target": target, ...config },
});

const keep = (reason: string): ReapDecision => ({ decision: "keep", reason, kind: "keep" });
const NONE = "no expiry set";

describe("reaper decisions", () => {
  const rows: [string, ReaperStackInput, ReapDecision, number?][] = [
    [
      "expired by the instance's expires-at tag",
      stack({ tags: { "qwen3-serve:expires-at": "2026-11-27T10:00:00Z" } }),
      { decision: "destroy", kind: "expired", reason: "expired 2 days ago (expiresAt 2026-11-27T10:00:00Z)" },
    ],
    [
      "expired by a minute, offset honoured",
      stack({ tags: { "qwen3-serve:expires-at": "2026-11-29T10:59:00+01:00" } }),
      { decision: "destroy", kind: "expired", reason: "expired 1 minute ago (expiresAt 2026-11-29T10:59:00+01:00)" },
    ],
    [
      "expiring exactly now is not yet past",
      stack({ tags: { "qwen3-serve:expires-at": "2026-11-29T10:00:00Z" } }),
      keep("running; expires in less than a minute"),
    ],
    [
      "not yet expired",
      stack({ tags: { "qwen3-serve:expires-at": "2026-12-02T10:00:00Z" } }),
      keep("running; expires in 3 days"),
    ],
    // ttlHours limits uptime since the last start; the watchdog enforces it, the reaper catches a watchdog that did not.
    [
      "running past the TTL tag plus slack: the watchdog did not act",
      stack({ inst: { launchedAt: NOW - 12 * H - 16 * 60_000 }, tags: { "qwen3-serve:ttl-hours": "12" } }),
      {
        decision: "destroy",
        kind: "ttl",
        reason: "running 12 hours since its last start, past its TTL of 12 h: the watchdog did not stop it",
      },
    ],
    [
      "running past TTL but within the slack",
      stack({ inst: { launchedAt: NOW - 12 * H - 14 * 60_000 }, tags: { "qwen3-serve:ttl-hours": "12" } }),
      keep(`running 12 hours (TTL 12 h); ${NONE}`),
    ],
    [
      "running inside TTL",
      stack({
        inst: { launchedAt: NOW - 2 * H },
        tags: { "qwen3-serve:ttl-hours": "12", "qwen3-serve:expires-at": "2026-12-02T10:00:00Z" },
      }),
      keep("running 2 hours (TTL 12 h); expires in 3 days"),
    ],
    [
      "TTL with no start time",
      stack({ tags: { "qwen3-serve:ttl-hours": "12" } }),
      keep(`running, start time unknown (TTL 12 h); ${NONE}`),
    ],
    [
      "TTL does not apply to a stopped machine",
      stack({
        inst: { state: "stopped", stoppedAt: NOW - 5 * H, launchedAt: NOW - 500 * H },
        tags: { "qwen3-serve:ttl-hours": "1" },
      }),
      keep(`stopped for 5 hours (limit 72 h); ${NONE}`),
    ],
    [
      "stopped longer than the limit",
      stack({ inst: { state: "stopped", stoppedAt: NOW - 73 * H } }),
      { decision: "destroy", kind: "stopped", reason: "stopped for 3 days (limit 72 h)" },
    ],
    [
      "stopped exactly the limit is kept",
      stack({ inst: { state: "stopped", stoppedAt: NOW - 72 * H } }),
      keep(`stopped for 3 days (limit 72 h); ${NONE}`),
    ],
    [
      "stopped less than the limit",
      stack({ inst: { state: "stopped", stoppedAt: NOW - 5 * H } }),
      keep(`stopped for 5 hours (limit 72 h); ${NONE}`),
    ],
    [
      "a lower --stopped-for",
      stack({ inst: { state: "stopped", stoppedAt: NOW - 5 * H } }),
      { decision: "destroy", kind: "stopped", reason: "stopped for 5 hours (limit 4 h)" },
      4,
    ],
    [
      "stop time unknown",
      stack({ inst: { state: "stopped" } }),
      keep(`stopped, stop time unknown (limit 72 h); ${NONE}`),
    ],
    ["running", stack(), keep(`running; ${NONE}`)],
    ["terminated outside Pulumi", stack({ inst: { state: "terminated" } }), keep(`terminated; ${NONE}`)],
    [
      "update in progress, even when expired",
      stack({ updateInProgress: true, tags: { "qwen3-serve:expires-at": "2026-11-01T00:00:00Z" } }),
      keep("update in progress"),
    ],
    [
      "a fully qualified name matches the instance's bare stack tag",
      stack({ name: "organization/qwen3-serve/s", tags: { "qwen3-serve:expires-at": "2026-11-28T10:00:00Z" } }),
      { decision: "destroy", kind: "expired", reason: "expired 24 hours ago (expiresAt 2026-11-28T10:00:00Z)" },
    ],
    // Workstation and Docker stacks export an instanceId too (user@host, a container id): not an EC2 instance.
    [
      "workstation: no instance, no expiry in the last update's config",
      machine("workstation"),
      keep(`no instance (workstation target); ${NONE}`),
    ],
    [
      "docker: expired by the last update's config",
      machine("docker", { "qwen3-serve:expiresAt": "2026-11-28T10:00:00Z" }),
      { decision: "destroy", kind: "expired", reason: "expired 24 hours ago (expiresAt 2026-11-28T10:00:00Z)" },
    ],
    [
      "no EC2 instance and no docker or workstation target deployed: not recognisably ours",
      { ...machine("docker"), deployedConfig: { "qwen3-serve:expiresAt": "2026-11-28T10:00:00Z" } },
      keep(
        "no EC2 instance in the outputs, and the last update's config sets no docker or workstation qwen3-serve:target: not recognisably this project's stack",
      ),
    ],
    // Item 26: the markers and the tags.
    [
      "nothing deployed",
      stack({ outputs: {}, instanceRef: undefined, instance: undefined }),
      keep("nothing deployed (no stack outputs)"),
    ],
    [
      "outputs of another program, even with an expired instance",
      stack({
        outputs: { url: "https://shop.example", instanceId: ID },
        inst: { state: "stopped", stoppedAt: NOW - 500 * H },
      }),
      keep("not a qwen3-serve deployment: its outputs lack plan, endpoint, modelName"),
    ],
    [
      "instance tagged for another project",
      stack({ tags: { "qwen3-serve:project": "llm-lab", "qwen3-serve:expires-at": "2026-11-01T00:00:00Z" } }),
      keep(
        `instance ${ID} is tagged qwen3-serve:project=llm-lab, qwen3-serve:stack=s, not qwen3-serve and s: not this project's stack`,
      ),
    ],
    [
      "instance tagged for another stack of this project",
      stack({ tags: { "qwen3-serve:stack": "prod", "qwen3-serve:expires-at": "2026-11-01T00:00:00Z" } }),
      keep(
        `instance ${ID} is tagged qwen3-serve:project=qwen3-serve, qwen3-serve:stack=prod, not qwen3-serve and s: not this project's stack`,
      ),
    ],
    [
      "instance without our tags",
      stack({ instance: { state: "stopped", stoppedAt: NOW - 500 * H, tags: { Name: "shop" } } }),
      keep(
        `instance ${ID} is tagged qwen3-serve:project=(none), qwen3-serve:stack=(none), not qwen3-serve and s: not this project's stack`,
      ),
    ],
    [
      "malformed expires-at tag keeps, even stopped for weeks",
      stack({
        tags: { "qwen3-serve:expires-at": "next tuesday" },
        inst: { state: "stopped", stoppedAt: NOW - 500 * H },
      }),
      keep(
        'expiresAt "next tuesday" is not an ISO 8601 time with an offset (e.g. 2027-03-31T00:00:00Z); fix it to let the reaper act',
      ),
    ],
    [
      "malformed ttl-hours tag keeps",
      stack({ inst: { launchedAt: NOW - 500 * H }, tags: { "qwen3-serve:ttl-hours": "twelve" } }),
      keep('ttlHours "twelve" is not a positive number of hours; fix it to let the reaper act'),
    ],
    [
      "instance not found in its region",
      stack({ instance: null }),
      keep(`instance ${ID} not found in us-east-1, so its tags cannot show the stack is this project's`),
    ],
    [
      "instance unreadable",
      stack({ instance: undefined, instanceError: "CredentialsProviderError: Could not load credentials" }),
      keep(`instance ${ID} unreadable: CredentialsProviderError: Could not load credentials`),
    ],
    [
      "stack unreadable",
      stack({ outputs: {}, instance: undefined, readError: "no stack named 'x' found" }),
      keep("cannot read the stack: no stack named 'x' found"),
    ],
  ];
  for (const [name, input, want, stoppedForHours] of rows) {
    it(name, () =>
      assert.deepEqual(
        decideStack(input, { ...SETTINGS, ...(stoppedForHours !== undefined ? { stoppedForHours } : {}) }),
        want,
      ),
    );
  }

  it("flags a keep that rests on a failed read, and only that", () => {
    const blind = stack({ instance: undefined, instanceError: "timeout" });
    assert.equal(keptBlind(blind, decideStack(blind, SETTINGS)), true);
    const unread = stack({ readError: "x" });
    assert.equal(keptBlind(unread, decideStack(unread, SETTINGS)), true);
    const seen = stack();
    assert.equal(keptBlind(seen, decideStack(seen, SETTINGS)), false);
  });

  it("words durations floored, with singulars", () => {
    const cases: [number, string][] = [
      [0, "less than a minute"],
      [59_999, "less than a minute"],
      [60_000, "1 minute"],
      [59 * 60_000, "59 minutes"],
      [H, "1 hour"],
      [48 * H - 1, "47 hours"],
      [48 * H, "2 days"],
      [73 * H, "3 days"],
    ];
    for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  });

  it("names exactly the markers another program's outputs lack", () => {
    assert.equal(missingMarkers(ourOutputs("s", ID)), undefined);
    assert.equal(
      missingMarkers({ ...ourOutputs("s", ID), plan: { version: 2, engine: "vllm", model: { id: "x" } } }),
      "plan",
    );
    assert.equal(missingMarkers({ ...ourOutputs("s", ID), plan: "[secret]" }), "plan");
    assert.equal(missingMarkers({ endpoint: "http://x/v1", instanceId: ID }), "plan, modelName");
    assert.equal(missingMarkers({}), "plan, endpoint, modelName, instanceId");
  });
});

describe("EC2 answers and the region", () => {
  it("parses the stop time from StateTransitionReason", () => {
    assert.equal(parseStopTime("User initiated (2026-11-29 10:00:00 GMT)"), Date.parse("2026-11-29T10:00:00Z"));
    assert.equal(parseStopTime("Service initiated (2026-01-02 03:04:05 GMT)"), Date.parse("2026-01-02T03:04:05Z"));
    for (const bad of [
      undefined,
      "",
      "User initiated",
      "User initiated (2026-13-45 99:00:00 GMT)",
      "User initiated (2026-11-29 10:00 GMT)",
    ]) {
      assert.equal(parseStopTime(bad), undefined, String(bad));
    }
  });

  it("reads the state, stop time, last start and tags from a DescribeInstances answer", () => {
    const Tags = [
      { Key: "qwen3-serve:project", Value: PROJECT },
      { Key: "Name", Value: "" },
    ];
    const answer = (Name: InstanceStateName, StateTransitionReason: string) => ({
      Reservations: [{ Instances: [{ InstanceId: ID, State: { Name }, StateTransitionReason, Tags }] }],
    });
    const tags = { "qwen3-serve:project": PROJECT, Name: "" };
    assert.deepEqual(instanceFromDescribe(answer("stopped", "User initiated (2026-11-25 10:00:00 GMT)"), ID), {
      state: "stopped",
      stoppedAt: NOW - 96 * H,
      tags,
    });
    assert.deepEqual(instanceFromDescribe(answer("stopped", "Client.UserInitiatedShutdown"), ID), {
      state: "stopped",
      tags,
    });
    assert.deepEqual(instanceFromDescribe(answer("running", ""), ID), { state: "running", tags });
    const launched = {
      Reservations: [
        { Instances: [{ InstanceId: ID, State: { Name: "running" as const }, LaunchTime: new Date(NOW - 3 * H) }] },
      ],
    };
    assert.deepEqual(
      instanceFromDescribe(launched, ID),
      { state: "running", launchedAt: NOW - 3 * H, tags: {} },
      "LaunchTime is the last start; no Tags is no tags",
    );
    assert.equal(instanceFromDescribe(answer("running", ""), iid("other")), null);
    assert.equal(instanceFromDescribe({ Reservations: [] }, ID), null);
  });

  it("treats an unknown instance id as gone, passes the region, and lets other errors through", async () => {
    const asked: [string, string][] = [];
    const notFound = Object.assign(new Error(`The instance ID '${iid("90e")}' does not exist`), {
      name: "InvalidInstanceID.NotFound",
    });
    const lookup = awsEc2Lookup(async (id, region) => {
      asked.push([id, region]);
      if (id === iid("90e")) throw notFound;
      if (id === iid("de1")) throw Object.assign(new Error("not authorized"), { name: "UnauthorizedOperation" });
      return { Reservations: [{ Instances: [{ InstanceId: id, State: { Name: "running" } }] }] };
    });
    assert.deepEqual(await lookup.describe(ID, "eu-west-1"), { state: "running", tags: {} });
    assert.equal(await lookup.describe(iid("90e"), "us-east-1"), null);
    await assert.rejects(lookup.describe(iid("de1"), "us-east-1"), /not authorized/);
    assert.deepEqual(asked, [
      [ID, "eu-west-1"],
      [iid("90e"), "us-east-1"],
      [iid("de1"), "us-east-1"],
    ]);
  });

  it("takes a config's region from aws:region, else from qwen3-serve:aws", () => {
    assert.equal(regionOf({ "aws:region": "us-west-2", "qwen3-serve:aws": '{"region":"eu-west-1"}' }), "us-west-2");
    assert.equal(regionOf({ "qwen3-serve:aws": '{"region":"eu-west-1","allowedCidrs":["myip"]}' }), "eu-west-1");
    assert.equal(regionOf({ "qwen3-serve:aws": '{"allowedCidrs":["myip"]}' }), undefined);
    assert.equal(regionOf({ "qwen3-serve:aws": "{not json" }), undefined);
    assert.equal(regionOf({}), undefined);
  });

  it("takes the deployed region from the awsRegion output, else from connectCommand's --region", () => {
    assert.equal(
      regionFromOutputs({
        awsRegion: "eu-central-1",
        connectCommand: "aws ssm start-session --region us-east-1 --target i-1",
      }),
      "eu-central-1",
    );
    assert.equal(
      regionFromOutputs({ connectCommand: "aws ssm start-session --region ap-south-1 --target i-1" }),
      "ap-south-1",
    );
    assert.equal(regionFromOutputs({ connectCommand: "ssh -p 22 ubuntu@gpu-box" }), undefined);
    assert.equal(regionFromOutputs({}), undefined);
  });

  it("looks up only EC2 ids, in the outputs' region, then each config's in turn", () => {
    assert.deepEqual(instanceToLookUp({ instanceId: ID, awsRegion: "eu-west-1" }, { "aws:region": "us-east-1" }), {
      instanceId: ID,
      region: "eu-west-1",
    });
    assert.deepEqual(instanceToLookUp({ instanceId: ID }, {}, { "aws:region": "us-west-2" }), {
      instanceId: ID,
      region: "us-west-2",
    });
    assert.deepEqual(instanceToLookUp({ instanceId: "i-0abc1234" }, {}), {
      instanceId: "i-0abc1234",
      region: undefined,
    });
    for (const id of ["ubuntu@gpu-box", "3f4e5d6c7b8a", "i-0dev", "i-0ABC1234"])
      assert.equal(instanceToLookUp({ instanceId: id }, { "aws:region": "us-east-1" }), undefined, id);
  });
});

describe("reaper flags", () => {
  it("defaults to the clock and 72 hours", () =>
    assert.deepEqual(parseReapSettings({}, 123, PROJECT), { now: 123, stoppedForHours: 72, project: PROJECT }));
  it("--now and --stopped-for override them", () => {
    assert.deepEqual(parseReapSettings({ now: "2026-11-29T11:00:00+01:00", stoppedFor: "1.5" }, 123, PROJECT), {
      now: NOW,
      stoppedForHours: 1.5,
      project: PROJECT,
    });
    assert.equal(parseReapSettings({ stoppedFor: "0" }, 0, PROJECT).stoppedForHours, 0);
  });
  for (const [flags, key, value] of [
    [{ now: "yesterday" }, "now", "yesterday"],
    [{ now: "2026-11-29T10:00:00" }, "now", "2026-11-29T10:00:00"],
    [{ stoppedFor: "-1" }, "stopped-for", "-1"],
    [{ stoppedFor: "three days" }, "stopped-for", "three days"],
    [{ stoppedFor: " " }, "stopped-for", " "],
  ] as const) {
    it(`refuses ${key} = ${JSON.stringify(value)}, naming it`, () => {
      assert.throws(
        () => parseReapSettings(flags, 0, PROJECT),
        (e: unknown) => isUserError(e) && e.key === key && e.value === value,
      );
    });
  }
  it("reads the project name from Pulumi.yaml", () => assert.equal(projectName(ROOT), PROJECT));
});

/** One of our AWS stacks: outputs, the deployed config, the checkout's file (the same, unless `checkout`). */
function ours(
  name: string,
  instanceId: string,
  extra: {
    outputs?: Record<string, unknown>;
    deployed?: Record<string, string>;
    checkout?: Record<string, string>;
  } = {},
): FakeStack {
  const deployed = {
    "aws:region": "us-east-1",
    "qwen3-serve:model": "Qwen3-8B",
    "qwen3-serve:hfToken": "hf_secret",
    ...extra.deployed,
  };
  return {
    name,
    project: PROJECT,
    lastUpdate: "2026-11-20T10:00:00.000Z",
    resourceCount: 14,
    outputs: ourOutputs(name, instanceId, extra.outputs),
    secretOutputs: ["apiKey"],
    config: extra.checkout ?? deployed,
    secretConfig: ["qwen3-serve:hfToken"],
    history: [{ kind: "update", config: deployed }],
  };
}

const DEV = iid("de7");
const LAB = iid("1ab");
const OLD = iid("01d");
const WEB = iid("3eb");
const TWIN = iid("7e1");

/** A legacy backend with dev (running), lab (expired by tag), old (stopped 4 days), ws (workstation), and two stacks of other projects. */
function fleet(
  over: Partial<Record<string, Partial<FakeStack>>> = {},
  current: string | null = "dev",
): Omit<FakeBackend, "calls" | "destroyed"> {
  const stacks: FakeStack[] = [
    ours("dev", DEV),
    ours("lab", LAB),
    ours("old", OLD),
    {
      name: "ws",
      project: PROJECT,
      resourceCount: 5,
      outputs: ourOutputs("ws", "ubuntu@gpu-box", { connectCommand: "ssh ubuntu@gpu-box", pricePerHour: 0 }),
      history: [{ kind: "update", config: { "qwen3-serve:target": "workstation" } }],
    },
    // Another project's stack on the same legacy backend: its own outputs, an old stopped instance.
    {
      name: "web",
      project: "website",
      lastUpdate: "2026-10-01T10:00:00.000Z",
      resourceCount: 3,
      outputs: { url: "https://shop.example", instanceId: WEB },
      history: [{ kind: "update", config: { "aws:region": "us-east-1", "website:domain": "shop.example" } }],
    },
    // A fork of this program under another project name: our outputs' shape, its own tags.
    { ...ours("twin", TWIN), project: "llm-lab" },
  ];
  return { legacy: true, project: PROJECT, current, stacks: stacks.map((s) => ({ ...s, ...over[s.name] })) };
}

type InstanceState = Extract<InstanceStateName, "running" | "stopped" | "terminated">;
/** An instance in the fake EC2: the region it lives in, its state, its tags. */
interface FakeInstance {
  region: string;
  state: InstanceState;
  launchedAt?: number;
  stoppedAt?: number;
  tags: Record<string, string>;
}

const FLEET_EC2 = (): Record<string, FakeInstance | "fail"> => ({
  [DEV]: { region: "us-east-1", state: "running", launchedAt: NOW - 2 * H, tags: ourTags("dev") },
  [LAB]: {
    region: "us-east-1",
    state: "running",
    launchedAt: NOW - 30 * H,
    tags: { ...ourTags("lab"), "qwen3-serve:expires-at": "2026-11-28T00:00:00Z" },
  },
  [OLD]: {
    region: "us-east-1",
    state: "stopped",
    launchedAt: NOW - 200 * H,
    stoppedAt: NOW - 96 * H,
    tags: ourTags("old"),
  },
  [WEB]: {
    region: "us-east-1",
    state: "stopped",
    launchedAt: NOW - 900 * H,
    stoppedAt: NOW - 500 * H,
    tags: { Name: "shop" },
  },
  [TWIN]: {
    region: "us-east-1",
    state: "stopped",
    launchedAt: NOW - 900 * H,
    stoppedAt: NOW - 500 * H,
    tags: {
      "qwen3-serve:project": "llm-lab",
      "qwen3-serve:stack": "twin",
      "qwen3-serve:expires-at": "2026-11-01T00:00:00Z",
    },
  },
});

const CODES: Record<InstanceState, number> = { running: 16, stopped: 80, terminated: 48 };
const gmt = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " GMT");

/**
 * A fake EC2 that answers DescribeInstances as EC2 does: an instance exists in one region only;
 * elsewhere, or unknown, the id is InvalidInstanceID.NotFound. `onDescribe` may change the fleet.
 */
function fakeEc2(
  instances: Record<string, FakeInstance | "fail">,
  onDescribe?: (id: string, count: number) => void,
): { describe: DescribeInstances; asked: string[] } {
  const asked: string[] = [];
  const describe: DescribeInstances = async (id, region) => {
    asked.push(`${id}@${region}`);
    const i = instances[id];
    if (i === "fail")
      throw Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      });
    if (i === undefined || i.region !== region)
      throw Object.assign(new Error(`The instance ID '${id}' does not exist`), { name: "InvalidInstanceID.NotFound" });
    const Tags = Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value }));
    const type: _InstanceType = "g6e.xlarge";
    const answer = {
      Reservations: [
        {
          Instances: [
            {
              InstanceId: id,
              InstanceType: type,
              State: { Code: CODES[i.state], Name: i.state },
              LaunchTime: new Date(i.launchedAt ?? NOW - H),
              StateTransitionReason: i.stoppedAt === undefined ? "" : `User initiated (${gmt(i.stoppedAt)})`,
              Tags,
            },
          ],
        },
      ],
    };
    // The world changes after this answer, as it can between the listing and a destroy.
    onDescribe?.(id, asked.filter((x) => x.startsWith(id)).length);
    return answer;
  };
  return { describe, asked };
}

interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
  state: FakeBackend;
  asked: string[];
}

async function reap(
  argv: string[],
  backend = fleet(),
  opts: {
    ec2?: Record<string, FakeInstance | "fail">;
    onDescribe?: (id: string, count: number) => void;
    deps?: Partial<ReapDeps>;
  } = {},
): Promise<InProcessRun> {
  const { run, state } = fakePulumi(backend);
  const { describe, asked } = fakeEc2(opts.ec2 ?? FLEET_EC2(), opts.onDescribe);
  let stdout = "";
  let stderr = "";
  const deps: ReapDeps = {
    workspace: () => pulumiWorkspace(run),
    ec2: () => awsEc2Lookup(describe),
    // One read at a time: the fake pulumi keeps its backend in one file that concurrent calls would race on.
    concurrency: 1,
    ...opts.deps,
    project: () => PROJECT,
    clock: () => NOW,
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  };
  const code = await runReap(argv, deps);
  return { code, stdout, stderr, state: state(), asked };
}

/** The table row for a stack: its cells split on runs of two or more spaces. */
function row(stdout: string, stackName: string): string[] {
  const line = stdout.split("\n").find((l) => l.startsWith(`${stackName} `));
  assert.ok(line !== undefined, `no row for ${stackName} in:\n${stdout}`);
  return line.split(/ {2,}/);
}

/** Commands that act on one stack (everything but listing and the version). */
const perStack = (calls: string[][]): string[][] =>
  calls.filter((c) => !(c[0] === "stack" && c[1] === "ls") && c[0] !== "version");

describe("the Pulumi CLI workspace, against a fake pulumi", () => {
  it("names --stack on every per-stack command, asks for no secrets, and never selects", async () => {
    const { run, state } = fakePulumi(fleet());
    const ws = pulumiWorkspace(run);
    assert.deepEqual(
      await ws.listStacks(),
      ["dev", "lab", "old", "ws", "web", "twin"].map((name) => ({
        name,
        updateInProgress: false,
        ...(name === "ws"
          ? {}
          : { lastUpdate: name === "web" ? "2026-10-01T10:00:00.000Z" : "2026-11-20T10:00:00.000Z" }),
      })),
    );
    assert.equal((await ws.outputs("lab")).apiKey, "[secret]");
    assert.deepEqual(await ws.deployedConfig("lab"), { "aws:region": "us-east-1", "qwen3-serve:model": "Qwen3-8B" });
    assert.deepEqual(await ws.config("lab"), { "aws:region": "us-east-1", "qwen3-serve:model": "Qwen3-8B" });
    const seen: string[] = [];
    await ws.destroy("lab", (t) => seen.push(t));
    assert.equal(seen.join(""), "Destroying (lab):\n - 14 deleted\n");
    const s = state();
    assert.deepEqual(s.calls, [
      ["stack", "ls", "--json", "--non-interactive"],
      ["stack", "output", "--json", "--stack", "lab", "--non-interactive"],
      ["stack", "history", "--json", "--page-size", "1", "--stack", "lab", "--non-interactive"],
      ["config", "--json", "--stack", "lab", "--non-interactive"],
      ["destroy", "--yes", "--skip-preview", "--stack", "lab", "--non-interactive"],
    ]);
    assert.equal(s.current, "dev");
    assert.deepEqual(s.destroyed, ["lab"]);
  });

  it("the fake keeps a selection like the real CLI: stack select changes it, and commands without --stack use it", async () => {
    const { run, state } = fakePulumi(fleet({}, null));
    await assert.rejects(
      run(["stack", "output", "--json"]),
      (e: unknown) => pulumiFailure(e) === "no stack selected; please use `pulumi stack select` to choose one",
    );
    await run(["stack", "select", "--stack", "old"]);
    assert.equal((JSON.parse(await run(["stack", "output", "--json"])) as { instanceId: string }).instanceId, OLD);
    assert.equal(state().current, "old");
  });

  it("a failed command's reason is its error line; a missing CLI says so", async () => {
    const { run } = fakePulumi(fleet());
    await assert.rejects(
      pulumiWorkspace(run).outputs("nope"),
      (e: unknown) => pulumiFailure(e) === "no stack named 'nope' found",
    );
    const missing = pulumiCli({ command: path.join(os.tmpdir(), "qwen3-serve-no-such-pulumi") });
    await assert.rejects(
      missing(["stack", "ls", "--json"]),
      (e: unknown) =>
        pulumiFailure(e) ===
        "the pulumi CLI was not found on PATH (npm run puts the project's own on PATH; or install Pulumi)",
    );
  });
});

// Each test has its own backend file and fake EC2: they run at once.
describe("npm run reap, in-process against a fake pulumi and a fake EC2", { concurrency: true }, () => {
  it("a dry run destroys nothing and prints the table with each reason and action", async () => {
    const r = await reap([]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.state.destroyed, []);
    assert.ok(!r.state.calls.some((c) => c[0] === "destroy"), JSON.stringify(r.state.calls));
    assert.match(r.stdout, /^STACK +DECISION +ACTION +\$\/H NOW +THIS MONTH +REASON$/m);
    assert.deepEqual(row(r.stdout, "dev"), ["dev", "keep", "nothing", "$1.861", "n/a", `running; ${NONE}`]);
    assert.deepEqual(row(r.stdout, "lab"), [
      "lab",
      "destroy",
      "would pulumi destroy",
      "$1.861",
      "n/a",
      "expired 34 hours ago (expiresAt 2026-11-28T00:00:00Z)",
    ]);
    assert.deepEqual(row(r.stdout, "old"), [
      "old",
      "destroy",
      "would pulumi destroy",
      "$0.000",
      "n/a",
      "stopped for 4 days (limit 72 h)",
    ]);
    assert.deepEqual(row(r.stdout, "ws"), [
      "ws",
      "keep",
      "nothing",
      "$0.000",
      "n/a",
      `no instance (workstation target); ${NONE}`,
    ]);
    assert.match(r.stdout, /2 stacks would be destroyed \(lab, old\); run again with --yes to destroy\./);
    assert.match(r.stdout, /\(dry run\)/);
    // EC2 is asked only about our AWS stacks' instances (and the fork's, whose tags then rule it out).
    assert.deepEqual(r.asked, [`${DEV}@us-east-1`, `${LAB}@us-east-1`, `${OLD}@us-east-1`, `${TWIN}@us-east-1`]);
  });

  it("--yes destroys exactly lab and old, each by --stack, and the selected stack is still dev", async () => {
    const r = await reap(["--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.state.destroyed, ["lab", "old"]);
    assert.deepEqual(
      r.state.calls.filter((c) => c[0] === "destroy"),
      [
        ["destroy", "--yes", "--skip-preview", "--stack", "lab", "--non-interactive"],
        ["destroy", "--yes", "--skip-preview", "--stack", "old", "--non-interactive"],
      ],
    );
    assert.deepEqual(row(r.stdout, "lab").slice(0, 3), ["lab", "destroy", "pulumi destroy"]);
    assert.match(r.stdout, /Destroying \(lab\):\n - 14 deleted\n/);
    assert.match(r.stdout, /^Destroyed lab\.$/m);
    assert.match(r.stdout, /^Destroyed 2 of 2 stacks\.$/m);
    assert.equal(r.stderr, "");
    assert.equal(r.state.current, "dev");
  });

  // Item 28.
  it("leaves the user's selected stack as it was, and never runs stack select, even when a destroy fails", async () => {
    for (const current of ["ws", null]) {
      const r = await reap(
        ["--yes"],
        fleet({ lab: { destroyFails: "the stack is currently locked by 1 lock(s)" } }, current),
      );
      assert.equal(r.code, 1);
      assert.equal(r.state.current, current);
      assert.deepEqual(
        r.state.calls.filter((c) => c.includes("select")),
        [],
      );
      assert.deepEqual(
        perStack(r.state.calls).filter((c) => !c.includes("--stack")),
        [],
        "every per-stack command names its stack",
      );
    }
  });

  // Item 26.
  it(
    "on a legacy backend, other projects' stacks are listed but left alone: one " +
      "without our outputs, one whose instance carries another project's tag",
    async () => {
      const r = await reap(["--yes"]);
      assert.deepEqual(row(r.stdout, "web"), [
        "web",
        "keep",
        "nothing",
        "n/a",
        "n/a",
        "not a qwen3-serve deployment: its outputs lack plan, endpoint, modelName",
      ]);
      assert.deepEqual(row(r.stdout, "twin"), [
        "twin",
        "keep",
        "nothing",
        "$0.000",
        "n/a",
        `instance ${TWIN} is tagged qwen3-serve:project=llm-lab, qwen3-serve:stack=twin, not qwen3-serve and twin: not this project's stack`,
      ]);
      assert.ok(
        !r.state.destroyed.includes("web") && !r.state.destroyed.includes("twin"),
        r.state.destroyed.join(", "),
      );
      assert.ok(!r.asked.some((a) => a.startsWith(WEB)), "a stack without our outputs is not read further");
    },
  );

  it("a project-scoped backend lists only this project's stacks", async () => {
    const r = await reap([], { ...fleet(), legacy: false });
    assert.deepEqual(
      r.stdout
        .split("\n")
        .filter((l) => /^(dev|lab|old|ws|web|twin) /.test(l))
        .map((l) => l.split(" ")[0]),
      ["dev", "lab", "old", "ws"],
    );
  });

  // Item 27.
  it("decides from the instance's tags, not the checkout's stack file", async () => {
    const r = await reap(
      ["--yes"],
      fleet({
        // The checkout was edited (not deployed) to expire dev, and has no expiry for lab, whose instance carries one.
        dev: {
          config: {
            "aws:region": "us-east-1",
            "qwen3-serve:expiresAt": "2026-11-01T00:00:00Z",
            "qwen3-serve:ttlHours": "1",
          },
        },
        lab: { config: { "aws:region": "us-east-1", "qwen3-serve:expiresAt": "2027-01-01T00:00:00Z" } },
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(row(r.stdout, "dev"), ["dev", "keep", "nothing", "$1.861", "n/a", `running; ${NONE}`]);
    assert.deepEqual(row(r.stdout, "lab"), [
      "lab",
      "destroy",
      "pulumi destroy",
      "$1.861",
      "n/a",
      "expired 34 hours ago (expiresAt 2026-11-28T00:00:00Z)",
    ]);
    assert.deepEqual(r.state.destroyed, ["lab", "old"]);
    assert.ok(
      !r.state.calls.some((c) => c[0] === "config"),
      "the checkout's config is not read when the outputs carry the region",
    );
  });

  it("a Docker stack's expiry comes from its last update's config, not the checkout's file", async () => {
    const docker = (
      name: string,
      deployedExpiry: string | undefined,
      checkoutExpiry: string | undefined,
    ): FakeStack => ({
      name,
      project: PROJECT,
      resourceCount: 6,
      outputs: ourOutputs(name, "3f4e5d6c7b8a", { connectCommand: "docker exec -it x sh", pricePerHour: 0 }),
      config: {
        "qwen3-serve:target": "docker",
        ...(checkoutExpiry !== undefined ? { "qwen3-serve:expiresAt": checkoutExpiry } : {}),
      },
      history: [
        {
          kind: "update",
          config: {
            "qwen3-serve:target": "docker",
            ...(deployedExpiry !== undefined ? { "qwen3-serve:expiresAt": deployedExpiry } : {}),
          },
        },
      ],
    });
    const r = await reap(["--yes"], {
      legacy: true,
      project: PROJECT,
      current: null,
      stacks: [docker("d1", "2026-11-28T10:00:00Z", undefined), docker("d2", undefined, "2026-11-28T10:00:00Z")],
    });
    assert.deepEqual(row(r.stdout, "d1"), [
      "d1",
      "destroy",
      "pulumi destroy",
      "$0.000",
      "n/a",
      "expired 24 hours ago (expiresAt 2026-11-28T10:00:00Z)",
    ]);
    assert.deepEqual(row(r.stdout, "d2"), [
      "d2",
      "keep",
      "nothing",
      "$0.000",
      "n/a",
      `no instance (docker target); ${NONE}`,
    ]);
    assert.deepEqual(r.state.destroyed, ["d1"]);
  });

  it("looks again just before each destroy: a stack extended since the listing is kept", async () => {
    const ec2 = FLEET_EC2();
    const r = await reap(["--yes"], fleet(), {
      ec2,
      // After the listing's look at lab, someone runs `pulumi up` with a later expiresAt: the tag changes.
      onDescribe: (id, count) => {
        const lab = ec2[LAB];
        if (id === LAB && count === 1 && lab !== undefined && lab !== "fail")
          lab.tags = { ...lab.tags, "qwen3-serve:expires-at": "2026-12-31T00:00:00Z" };
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(row(r.stdout, "lab").slice(0, 2), ["lab", "destroy"]);
    assert.deepEqual(r.state.destroyed, ["old"]);
    assert.match(r.stdout, /^Kept lab after a fresh look: running; expires in 31 days\.$/m);
    assert.match(r.stdout, /^Destroyed 1 of 2 stacks; kept after a fresh look: lab\.$/m);
    assert.deepEqual(
      r.asked.filter((a) => a.startsWith(LAB)),
      [`${LAB}@us-east-1`, `${LAB}@us-east-1`],
    );
  });

  it("looks again just before each destroy: a stack someone else destroyed meanwhile is not destroyed again", async () => {
    const { run, state, edit } = fakePulumi(fleet());
    const { describe } = fakeEc2(FLEET_EC2(), (id, count) => {
      // Someone destroys old between the listing and the reaper's destroy: its outputs are gone.
      if (id === OLD && count === 1)
        edit((b) =>
          b.stacks
            .filter((x) => x.name === "old")
            .forEach((x) => {
              Object.assign(x, { outputs: {}, resourceCount: 0 });
            }),
        );
    });
    let stdout = "";
    const code = await runReap(["--yes"], {
      workspace: () => pulumiWorkspace(run),
      ec2: () => awsEc2Lookup(describe),
      concurrency: 1,
      project: () => PROJECT,
      clock: () => NOW,
      stdout: (t) => {
        stdout += t;
      },
      stderr: () => undefined,
    });
    assert.equal(code, 0);
    assert.match(stdout, /^Kept old after a fresh look: nothing deployed \(no stack outputs\)\.$/m);
    assert.deepEqual(state().destroyed, ["lab"]);
  });

  // Item 14, the reaper's half.
  it("looks each instance up in its stack's own region, never the reaper's default", async () => {
    const eu = iid("e0");
    const ap = iid("a9");
    const wr = iid("b2");
    const nr = iid("c3");
    const backend = {
      legacy: true,
      project: PROJECT,
      current: null,
      stacks: [
        // The awsRegion output wins over a checkout that says us-east-1.
        ours("eu", eu, {
          outputs: { awsRegion: "eu-west-1", connectCommand: "aws ssm start-session --region eu-west-1 --target x" },
          checkout: { "aws:region": "us-east-1" },
        }),
        // A stack deployed before the awsRegion output: connectCommand's --region.
        ours("ap", ap, {
          outputs: { connectCommand: `aws ssm start-session --region ap-southeast-2 --target ${ap}` },
          checkout: {},
        }),
        // Neither in the outputs: the last update's aws:region.
        ours("wr", wr, {
          outputs: { connectCommand: "n/a" },
          deployed: { "aws:region": "us-west-2" },
          checkout: { "aws:region": "us-east-1" },
        }),
        // No region anywhere: not looked up, kept, and reported.
        ours("nr", nr, { outputs: { connectCommand: "n/a" }, deployed: { "aws:region": "" }, checkout: {} }),
      ],
    };
    const stopped = (region: string, name: string): FakeInstance => ({
      region,
      state: "stopped",
      stoppedAt: NOW - 100 * H,
      tags: ourTags(name),
    });
    const r = await reap([], backend, {
      ec2: {
        [eu]: stopped("eu-west-1", "eu"),
        [ap]: stopped("ap-southeast-2", "ap"),
        [wr]: stopped("us-west-2", "wr"),
        [nr]: stopped("us-east-1", "nr"),
      },
    });
    // Stacks are read in name order.
    assert.deepEqual(r.asked, [`${ap}@ap-southeast-2`, `${eu}@eu-west-1`, `${wr}@us-west-2`]);
    for (const name of ["eu", "ap", "wr"])
      assert.deepEqual(row(r.stdout, name), [
        name,
        "destroy",
        "would pulumi destroy",
        "$0.000",
        "n/a",
        "stopped for 4 days (limit 72 h)",
      ]);
    assert.deepEqual(row(r.stdout, "nr"), [
      "nr",
      "keep",
      "nothing",
      "n/a",
      "n/a",
      `instance ${nr} unreadable: no region recorded (no awsRegion output, no aws:region in the stack config)`,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^warning: kept without a full look \(read failed\): nr$/m);
  });

  it("a failing destroy exits 1, names the stack and the reason, and the others still run", async () => {
    const r = await reap(["--yes"], fleet({ lab: { destroyFails: "the stack is currently locked by 1 lock(s)" } }));
    assert.equal(r.code, 1);
    assert.deepEqual(r.state.destroyed, ["old"]);
    assert.match(r.stderr, /^error: pulumi destroy of lab failed: the stack is currently locked by 1 lock\(s\)$/m);
    assert.match(r.stdout, /^Destroyed 1 of 2 stacks; failed: lab\.$/m);
  });

  it("--json prints one object; under --yes Pulumi's output goes to stderr", async () => {
    const dry = await reap(["--json"]);
    assert.equal(dry.code, 0);
    const doc = JSON.parse(dry.stdout) as {
      now: string;
      stoppedForHours: number;
      yes: boolean;
      stacks: { stack: string; decision: string; kind: string; reason: string; action: string }[];
    };
    assert.equal(doc.now, "2026-11-29T10:00:00.000Z");
    assert.equal(doc.stoppedForHours, 72);
    assert.equal(doc.yes, false);
    assert.deepEqual(
      doc.stacks.map((s) => [s.stack, s.decision, s.kind]),
      [
        ["dev", "keep", "keep"],
        ["lab", "destroy", "expired"],
        ["old", "destroy", "stopped"],
        ["twin", "keep", "keep"],
        ["web", "keep", "keep"],
        ["ws", "keep", "keep"],
      ],
    );

    const wet = await reap(["--json", "--yes"], fleet({ old: { destroyFails: "access denied" } }));
    assert.equal(wet.code, 1);
    const after = JSON.parse(wet.stdout) as { stacks: { stack: string; destroyed?: boolean }[] };
    assert.deepEqual(
      after.stacks.filter((s) => s.destroyed !== undefined),
      [
        {
          stack: "lab",
          decision: "destroy",
          kind: "expired",
          reason: "expired 34 hours ago (expiresAt 2026-11-28T00:00:00Z)",
          action: "pulumi destroy",
          destroyed: true,
        },
        {
          stack: "old",
          decision: "destroy",
          kind: "stopped",
          reason: "stopped for 4 days (limit 72 h)",
          action: "pulumi destroy",
          destroyed: false,
          error: "access denied",
        },
      ],
    );
    assert.match(wet.stderr, /Destroying \(lab\)/);
  });

  it("a stack or instance it cannot read is kept, reported, and exits 1", async () => {
    const ec2 = { ...FLEET_EC2(), [OLD]: "fail" as const };
    const r = await reap(["--yes"], fleet({ dev: { outputFails: "could not read the stack file" } }), { ec2 });
    assert.equal(r.code, 1);
    assert.deepEqual(row(r.stdout, "dev"), [
      "dev",
      "keep",
      "nothing",
      "n/a",
      "n/a",
      "cannot read the stack: could not read the stack file",
    ]);
    assert.deepEqual(row(r.stdout, "old"), [
      "old",
      "keep",
      "nothing",
      "n/a",
      "n/a",
      `instance ${OLD} unreadable: CredentialsProviderError: Could not load credentials from any providers`,
    ]);
    assert.deepEqual(r.state.destroyed, ["lab"]);
    assert.match(r.stderr, /^warning: kept without a full look \(read failed\): dev, old$/m);
  });

  it("the month column shows the cost hook's dollars, and n/a where it has none or fails", async () => {
    const r = await reap([], fleet(), {
      deps: {
        costThisMonth: async (stack, now) => {
          assert.equal(now, NOW);
          if (stack.name === "lab") throw new Error("CloudTrail: AccessDenied");
          return stack.name === "dev" ? 41.2 : null;
        },
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(row(r.stdout, "dev").slice(0, 5), ["dev", "keep", "nothing", "$1.861", "$41.20"]);
    assert.deepEqual(row(r.stdout, "lab").slice(0, 5), ["lab", "destroy", "would pulumi destroy", "$1.861", "n/a"]);
    assert.deepEqual(row(r.stdout, "old").slice(0, 5), ["old", "destroy", "would pulumi destroy", "$0.000", "n/a"]);
  });

  it("when the stacks cannot be listed it says why and exits 1", async () => {
    const r = await reap([], {
      ...fleet(),
      listFails: "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions",
    });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr,
      "error: cannot list this project's stacks: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n",
    );
  });

  it("no stacks: says so and exits 0", async () => {
    const r = await reap(["--yes"], { legacy: true, project: PROJECT, current: null, stacks: [] });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^No stacks in this project\.$/m);
  });

  it("a bad flag value exits 2 before running pulumi at all", async () => {
    const r = await reap(["--yes", "--now", "tomorrow"]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.state.calls, []);
    assert.match(r.stderr, /^error: --now = "tomorrow": not an ISO 8601 time with an offset\.$/m);
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/reap.ts", ...args],
      { cwd: ROOT, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("npm run reap as a child process", { concurrency: true }, () => {
  it("--help prints the usage and exits 0", async () => {
    const r = await cli("--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Usage: npm run --silent reap -- \[--yes\] \[--stopped-for <hours>\] \[--now <ISO 8601>\] \[--json\]/,
    );
    assert.equal(r.stderr, "");
  });

  it("an unknown flag exits 2 with the valid flags and no stack trace", async () => {
    const r = await cli("--force");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: Unknown option '--force'/);
    assert.match(
      r.stderr,
      /^Valid flags: --yes, --stopped-for, --now, --json, --weights, --region, --unused-days, --help$/m,
    );
    assert.doesNotMatch(r.stderr, NO_STACK);
    assert.equal(r.stdout, "");
  });

  it("a bad --stopped-for exits 2 naming the flag, the value and what is valid, with no stack trace", async () => {
    const r = await cli("--stopped-for", "a week");
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^error: --stopped-for = "a week": not a number of hours\.\nGive hours, 0 or more \(default 72\), e\.g\. 48 or 1\.5\.$/m,
    );
    assert.doesNotMatch(r.stderr, NO_STACK);
  });
});

describe("fleets: an Auto Scaling group instead of an instance", () => {
  const GROUP = "qwen3-serve-qwen3-serve-team-server";
  /** A fleet's outputs (components/targets/awsFleet.ts): no EC2 instance id, the group's name and region instead. */
  const fleetOutputs = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    plan: { version: 1, engine: "vllm", model: { id: "Qwen/Qwen3-30B-A3B-FP8" } },
    endpoint: "http://team-alb.example/v1",
    modelName: "Qwen/Qwen3-30B-A3B-FP8",
    replicas: { min: 0, max: 4, desired: 0 },
    instanceTypes: ["g6e.xlarge", "g6e.2xlarge"],
    autoScalingGroupName: GROUP,
    awsRegion: "us-east-1",
    ...extra,
  });
  /** Fleet "team", ours, at zero since 5 hours ago, no lifetime settings, changed by `over` (`group` adds to the group). */
  const fleet = (
    over: Partial<ReaperStackInput> & { g?: Partial<ReaperGroup>; config?: Record<string, string> } = {},
  ): ReaperStackInput => {
    const { g, config, ...rest } = over;
    return {
      name: "team",
      updateInProgress: false,
      lastUpdate: "2026-11-29T08:00:00.000Z",
      outputs: fleetOutputs(),
      deployedConfig: {
        "aws:region": "us-east-1",
        "qwen3-serve:fleet": '{"minReplicas":0,"maxReplicas":4}',
        ...config,
      },
      groupRef: { name: GROUP, region: "us-east-1" },
      group: {
        desired: 0,
        min: 0,
        max: 4,
        instances: 0,
        createdAt: NOW - 500 * H,
        lastActivityAt: NOW - 5 * H,
        tags: ourTags("team"),
        ...g,
      },
      ...rest,
    };
  };
  const rows: [string, ReaperStackInput, ReapDecision, number?][] = [
    [
      "at zero for longer than --stopped-for counts as stopped",
      fleet({ g: { lastActivityAt: NOW - 73 * H } }),
      { decision: "destroy", kind: "stopped", reason: "fleet at zero replicas for 3 days (limit 72 h)" },
    ],
    [
      "at zero for less than --stopped-for is kept",
      fleet(),
      keep(`fleet: at zero replicas for 5 hours (limit 72 h); ${NONE}`),
    ],
    [
      "at zero for 5 hours with --stopped-for 4",
      fleet(),
      { decision: "destroy", kind: "stopped", reason: "fleet at zero replicas for 5 hours (limit 4 h)" },
      4,
    ],
    [
      "at zero with no activity in the retention: since its creation, no earlier than six weeks ago",
      fleet({ g: { lastActivityAt: undefined, createdAt: NOW - 100 * 24 * H } }),
      { decision: "destroy", kind: "stopped", reason: "fleet at zero replicas for 42 days (limit 72 h)" },
    ],
    [
      "at zero, since when unknown",
      fleet({ g: { lastActivityAt: undefined, createdAt: undefined } }),
      keep(`fleet: at zero replicas, since when unknown (limit 72 h); ${NONE}`),
    ],
    [
      "desired 0 with a replica still terminating is not yet at zero",
      fleet({ g: { instances: 1, lastActivityAt: NOW - 500 * H } }),
      keep(`fleet: scaling to zero, 1 replica left (min 0, max 4); ${NONE}`),
    ],
    [
      "serving: replicas instead of an instance state",
      fleet({ g: { desired: 2, instances: 2, lastActivityAt: NOW - 500 * H } }),
      keep(`fleet: 2 replicas, desired 2 (min 0, max 4); ${NONE}`),
    ],
    [
      "TTL passed, counted from the stack's last update, even while serving",
      fleet({ g: { desired: 1, instances: 1 }, config: { "qwen3-serve:ttlHours": "1" } }),
      {
        decision: "destroy",
        kind: "ttl",
        reason: "fleet deployed 2 hours ago (last update 2026-11-29T08:00:00.000Z), past its TTL of 1 h",
      },
    ],
    [
      "TTL not yet passed",
      fleet({ config: { "qwen3-serve:ttlHours": "12" } }),
      keep(`fleet: at zero replicas for 5 hours (limit 72 h); deployed 2 hours ago (TTL 12 h); ${NONE}`),
    ],
    [
      "TTL with no last update time",
      fleet({ lastUpdate: undefined, config: { "qwen3-serve:ttlHours": "1" } }),
      keep(`fleet: at zero replicas for 5 hours (limit 72 h); last update time unknown (TTL 1 h); ${NONE}`),
    ],
    [
      "malformed ttlHours in the deployed config keeps",
      fleet({ g: { lastActivityAt: NOW - 500 * H }, config: { "qwen3-serve:ttlHours": "soon" } }),
      keep('ttlHours "soon" is not a positive number of hours; fix it to let the reaper act'),
    ],
    [
      "expiresAt passed, from the deployed config",
      fleet({ g: { desired: 1, instances: 1 }, config: { "qwen3-serve:expiresAt": "2026-11-28T10:00:00Z" } }),
      { decision: "destroy", kind: "expired", reason: "expired 24 hours ago (expiresAt 2026-11-28T10:00:00Z)" },
    ],
    [
      "expiresAt not yet passed",
      fleet({ config: { "qwen3-serve:expiresAt": "2026-12-02T10:00:00Z" } }),
      keep("fleet: at zero replicas for 5 hours (limit 72 h); expires in 3 days"),
    ],
    [
      "group unreadable keeps, even when expired",
      fleet({
        group: undefined,
        groupError: "AccessDenied: not authorized to perform autoscaling:DescribeAutoScalingGroups",
        config: { "qwen3-serve:expiresAt": "2026-11-01T00:00:00Z" },
      }),
      keep(
        `Auto Scaling group ${GROUP} unreadable: AccessDenied: not authorized to perform autoscaling:DescribeAutoScalingGroups`,
      ),
    ],
    [
      "group not found in its region keeps",
      fleet({ group: null, config: { "qwen3-serve:expiresAt": "2026-11-01T00:00:00Z" } }),
      keep(`Auto Scaling group ${GROUP} not found in us-east-1, so its tags cannot show the stack is this project's`),
    ],
    [
      "group tagged for another stack keeps",
      fleet({ g: { tags: ourTags("prod"), lastActivityAt: NOW - 500 * H } }),
      keep(
        `Auto Scaling group ${GROUP} is tagged qwen3-serve:project=qwen3-serve, qwen3-serve:stack=prod, not qwen3-serve and team: not this project's stack`,
      ),
    ],
    [
      "update in progress keeps a fleet at zero for weeks",
      fleet({ updateInProgress: true, g: { lastActivityAt: NOW - 500 * H } }),
      keep("update in progress"),
    ],
  ];
  for (const [name, input, want, stoppedForHours] of rows) {
    it(name, () =>
      assert.deepEqual(
        decideStack(input, { ...SETTINGS, ...(stoppedForHours !== undefined ? { stoppedForHours } : {}) }),
        want,
      ),
    );
  }

  it("the group's name stands in for the instance id among the markers, and an unreadable group is a blind keep", () => {
    assert.equal(missingMarkers(fleetOutputs()), undefined);
    assert.equal(missingMarkers({ ...fleetOutputs(), modelName: 3 }), "modelName");
    const blind = fleet({ group: undefined, groupError: "timeout" });
    assert.equal(keptBlind(blind, decideStack(blind, SETTINGS)), true);
    assert.equal(keptBlind(fleet(), decideStack(fleet(), SETTINGS)), false);
  });

  it("looks the group up by its output name, in the outputs' region, else the deployed config's", () => {
    assert.deepEqual(groupToLookUp(fleetOutputs()), { name: GROUP, region: "us-east-1" });
    assert.deepEqual(groupToLookUp(fleetOutputs({ awsRegion: undefined }), { "aws:region": "eu-west-1" }), {
      name: GROUP,
      region: "eu-west-1",
    });
    assert.equal(groupToLookUp(ourOutputs("s", ID)), undefined);
  });

  /** Answers shaped like DescribeAutoScalingGroups and DescribeScalingActivities, and the calls made. */
  const fakeAutoScaling = (
    group: Record<string, unknown> | null,
    activities: { StartTime?: Date; EndTime?: Date }[],
  ): { calls: AutoScalingCalls; asked: string[] } => {
    const asked: string[] = [];
    return {
      asked,
      calls: {
        describeGroups: async (name, region) => {
          asked.push(`groups ${name}@${region}`);
          if (region === "xx-deny-1") throw Object.assign(new Error("not authorized"), { name: "AccessDenied" });
          return {
            AutoScalingGroups: group === null ? [] : [{ AutoScalingGroupName: name, ...group } as AutoScalingGroup],
          };
        },
        describeActivities: async (name, region) => {
          asked.push(`activities ${name}@${region}`);
          return { Activities: activities as Activity[] };
        },
      },
    };
  };

  it("reads capacity, instances, creation, tags and the latest activity; activities only for a group at zero", async () => {
    const atZero = fakeAutoScaling(
      {
        DesiredCapacity: 0,
        MinSize: 0,
        MaxSize: 4,
        Instances: [],
        CreatedTime: new Date("2026-11-01T00:00:00Z"),
        Tags: [
          { Key: "qwen3-serve:project", Value: "qwen3-serve", PropagateAtLaunch: true },
          { Key: "qwen3-serve:stack", Value: "team", PropagateAtLaunch: true },
        ],
      },
      [
        // Newest first, with an in-progress one (no EndTime) listed before them, as the API orders them.
        { StartTime: new Date("2026-11-28T09:00:00Z") },
        { StartTime: new Date("2026-11-28T08:00:00Z"), EndTime: new Date("2026-11-28T08:03:00Z") },
        { StartTime: new Date("2026-11-20T08:00:00Z"), EndTime: new Date("2026-11-20T08:05:00Z") },
      ],
    );
    assert.deepEqual(await awsGroupLookup(atZero.calls).describe(GROUP, "us-east-1"), {
      desired: 0,
      min: 0,
      max: 4,
      instances: 0,
      createdAt: Date.parse("2026-11-01T00:00:00Z"),
      lastActivityAt: Date.parse("2026-11-28T09:00:00Z"),
      tags: { "qwen3-serve:project": "qwen3-serve", "qwen3-serve:stack": "team" },
    });
    assert.deepEqual(atZero.asked, [`groups ${GROUP}@us-east-1`, `activities ${GROUP}@us-east-1`]);

    const serving = fakeAutoScaling({ DesiredCapacity: 1, MinSize: 0, MaxSize: 4, Instances: [{}] }, []);
    assert.deepEqual(await awsGroupLookup(serving.calls).describe(GROUP, "eu-west-1"), {
      desired: 1,
      min: 0,
      max: 4,
      instances: 1,
      tags: {},
    });
    assert.deepEqual(serving.asked, [`groups ${GROUP}@eu-west-1`]);
  });

  it("an unknown group is null, not an error; other errors pass through to be recorded", async () => {
    const gone = fakeAutoScaling(null, []);
    assert.equal(await awsGroupLookup(gone.calls).describe(GROUP, "us-east-1"), null);
    await assert.rejects(awsGroupLookup(gone.calls).describe(GROUP, "xx-deny-1"), /not authorized/);
    assert.equal(groupFromDescribe({ AutoScalingGroups: [] }, undefined, GROUP), null);
  });

  it("gathers a fleet stack through the group lookup, and records a failing lookup as unreadable", async () => {
    const workspace: StackWorkspace = {
      listStacks: async () => [{ name: "team", updateInProgress: false, lastUpdate: "2026-11-29T08:00:00.000Z" }],
      outputs: async () => fleetOutputs(),
      deployedConfig: async () => ({ "qwen3-serve:ttlHours": "12" }),
      config: async () => ({}),
      destroy: async () => assert.fail("no destroy in a gather"),
    };
    const ec2 = awsEc2Lookup(async () => assert.fail("a fleet has no instance to look up"));
    const seen = fakeAutoScaling({ DesiredCapacity: 0, MinSize: 0, MaxSize: 4, Instances: [], Tags: [] }, []);
    const [s] = await gatherStacks(workspace, ec2, awsGroupLookup(seen.calls));
    assert.deepEqual(s?.groupRef, { name: GROUP, region: "us-east-1" });
    assert.deepEqual(s?.group, { desired: 0, min: 0, max: 4, instances: 0, tags: {} });
    const failing: GroupLookup = { describe: () => Promise.reject(new Error("socket hang up")) };
    const [f] = await gatherStacks(workspace, ec2, failing);
    assert.equal(f?.groupError, "socket hang up");
    assert.equal(f?.group, undefined);
  });
});
