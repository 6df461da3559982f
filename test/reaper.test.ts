/**
 * The reaper (`npm run reap`). It proves: the decision table with exact reasons (expired by date,
 * not yet expired, running past its TTL plus the watchdog's slack and just inside it, TTL without a
 * start time, TTL ignored for a stopped instance, stopped longer and shorter than the limit and
 * exactly at it, stop time unknown, running, update in progress, no instance, malformed expiresAt
 * or ttlHours, instance or stack unreadable); the stop time parsed from EC2's StateTransitionReason;
 * the region and flag rules; the thin Automation API adapter (select only, never create) against
 * a fake `@pulumi/pulumi/automation`; and the whole command in-process against a strict fake
 * workspace and EC2: a dry run destroys nothing and prints the table, --yes destroys exactly the
 * chosen stacks, a failing destroy makes the exit code 1 while the others still run, --json is one
 * object, and nothing outside the ReaperWorkspace interface is ever called. As a child process:
 * --help and bad flags (exit 2, no stack trace).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { awsEc2Lookup, instanceFromDescribe, pulumiWorkspace, type AutomationApi, type Ec2Lookup, type ReaperWorkspace, type StackListing } from "../components/client/reaper";
import { isUserError } from "../components/core/errors";
import { decideStack, formatDuration, keptBlind, parseReapSettings, parseStopTime, regionOf, type ReapDecision, type ReaperInstance, type ReaperStackInput } from "../components/core/reaper";
import { runReap, type ReapDeps } from "../scripts/reap";

const ROOT = path.resolve(__dirname, "..");
const NO_STACK = /^\s+at /m;
const H = 3_600_000;
const NOW = Date.parse("2026-11-29T10:00:00Z");
const SETTINGS = { now: NOW, stoppedForHours: 72 };

/** An AWS stack with a running instance and no lifetime settings, changed by `over`. */
function stack(over: Partial<ReaperStackInput> & { cfg?: Record<string, string> } = {}): ReaperStackInput {
  const { cfg, ...rest } = over;
  return {
    name: "s",
    updateInProgress: false,
    config: { "aws:region": "us-east-1", ...cfg },
    outputs: { instanceId: "i-0abc" },
    instance: { state: "running" },
    ...rest,
  };
}

const keep = (reason: string): ReapDecision => ({ decision: "keep", reason, kind: "keep" });
const NONE = "no expiry set";

describe("reaper decisions", () => {
  const rows: [string, ReaperStackInput, ReapDecision, number?][] = [
    ["expired by date", stack({ cfg: { "qwen3-serve:expiresAt": "2026-11-27T10:00:00Z" } }), { decision: "destroy", kind: "expired", reason: "expired 2 days ago (expiresAt 2026-11-27T10:00:00Z)" }],
    ["expired by a minute, offset honoured", stack({ cfg: { "qwen3-serve:expiresAt": "2026-11-29T10:59:00+01:00" } }), { decision: "destroy", kind: "expired", reason: "expired 1 minute ago (expiresAt 2026-11-29T10:59:00+01:00)" }],
    ["expiring exactly now is not yet past", stack({ cfg: { "qwen3-serve:expiresAt": "2026-11-29T10:00:00Z" } }), keep("running; expires in less than a minute")],
    ["not yet expired", stack({ cfg: { "qwen3-serve:expiresAt": "2026-12-02T10:00:00Z" } }), keep("running; expires in 3 days")],
    // ttlHours limits uptime since the last start; the watchdog enforces it, the reaper catches a watchdog that did not.
    [
      "running past TTL plus slack: the watchdog did not act",
      stack({ instance: { state: "running", launchedAt: NOW - 12 * H - 16 * 60_000 }, cfg: { "qwen3-serve:ttlHours": "12" } }),
      { decision: "destroy", kind: "ttl", reason: "running 12 hours since its last start, past its TTL of 12 h: the watchdog did not stop it" },
    ],
    ["running past TTL but within the slack", stack({ instance: { state: "running", launchedAt: NOW - 12 * H - 14 * 60_000 }, cfg: { "qwen3-serve:ttlHours": "12" } }), keep(`running 12 hours (TTL 12 h); ${NONE}`)],
    ["running inside TTL", stack({ instance: { state: "running", launchedAt: NOW - 2 * H }, cfg: { "qwen3-serve:ttlHours": "12", "qwen3-serve:expiresAt": "2026-12-02T10:00:00Z" } }), keep("running 2 hours (TTL 12 h); expires in 3 days")],
    ["TTL with no start time", stack({ cfg: { "qwen3-serve:ttlHours": "12" } }), keep(`running, start time unknown (TTL 12 h); ${NONE}`)],
    ["TTL does not apply to a stopped machine", stack({ instance: { state: "stopped", stoppedAt: NOW - 5 * H, launchedAt: NOW - 500 * H }, cfg: { "qwen3-serve:ttlHours": "1" } }), keep(`stopped for 5 hours (limit 72 h); ${NONE}`)],
    ["stopped longer than the limit", stack({ instance: { state: "stopped", stoppedAt: NOW - 73 * H } }), { decision: "destroy", kind: "stopped", reason: "stopped for 3 days (limit 72 h)" }],
    ["stopped exactly the limit is kept", stack({ instance: { state: "stopped", stoppedAt: NOW - 72 * H } }), keep(`stopped for 3 days (limit 72 h); ${NONE}`)],
    ["stopped less than the limit", stack({ instance: { state: "stopped", stoppedAt: NOW - 5 * H } }), keep(`stopped for 5 hours (limit 72 h); ${NONE}`)],
    ["a lower --stopped-for", stack({ instance: { state: "stopped", stoppedAt: NOW - 5 * H } }), { decision: "destroy", kind: "stopped", reason: "stopped for 5 hours (limit 4 h)" }, 4],
    ["stop time unknown", stack({ instance: { state: "stopped" } }), keep(`stopped, stop time unknown (limit 72 h); ${NONE}`)],
    ["running", stack(), keep(`running; ${NONE}`)],
    ["terminated outside Pulumi", stack({ instance: { state: "terminated" } }), keep(`terminated; ${NONE}`)],
    ["update in progress, even when expired", stack({ updateInProgress: true, cfg: { "qwen3-serve:expiresAt": "2026-11-01T00:00:00Z" } }), keep("update in progress")],
    // Workstation and Docker stacks also export an instanceId (user@host, a container id): not an EC2 instance.
    ["no instance: workstation target", stack({ cfg: { "qwen3-serve:target": "workstation" }, outputs: { instanceId: "ubuntu@gpu-box" }, instance: undefined }), keep(`no instance (workstation target); ${NONE}`)],
    [
      "no instance, but expired: docker target",
      stack({ cfg: { "qwen3-serve:target": "docker", "qwen3-serve:expiresAt": "2026-11-28T10:00:00Z" }, outputs: { instanceId: "3f4e5d6c7b8a" }, instance: undefined }),
      { decision: "destroy", kind: "expired", reason: "expired 24 hours ago (expiresAt 2026-11-28T10:00:00Z)" },
    ],
    ["AWS stack with no instanceId output", stack({ outputs: {}, instance: undefined }), keep(`no instance in the stack outputs; ${NONE}`)],
    [
      "malformed expiresAt keeps, even stopped for weeks",
      stack({ cfg: { "qwen3-serve:expiresAt": "next tuesday" }, instance: { state: "stopped", stoppedAt: NOW - 500 * H } }),
      keep('expiresAt "next tuesday" is not an ISO 8601 time with an offset (e.g. 2027-03-31T00:00:00Z); fix it to let the reaper act'),
    ],
    ["malformed ttlHours keeps", stack({ instance: { state: "running", launchedAt: NOW - 500 * H }, cfg: { "qwen3-serve:ttlHours": "twelve" } }), keep('ttlHours "twelve" is not a positive number of hours; fix it to let the reaper act')],
    [
      "expiresAt without an offset is malformed",
      stack({ cfg: { "qwen3-serve:expiresAt": "2026-11-01T00:00:00" } }),
      keep('expiresAt "2026-11-01T00:00:00" is not an ISO 8601 time with an offset (e.g. 2027-03-31T00:00:00Z); fix it to let the reaper act'),
    ],
    ["instance not found", stack({ instance: null }), keep(`instance i-0abc not found in us-east-1; ${NONE}`)],
    ["instance unreadable", stack({ instance: undefined, instanceError: "CredentialsProviderError: Could not load credentials" }), keep(`instance i-0abc unreadable: CredentialsProviderError: Could not load credentials; ${NONE}`)],
    [
      "instance unreadable, but expired",
      stack({ instance: undefined, instanceError: "timeout", cfg: { "qwen3-serve:expiresAt": "2026-11-28T10:00:00Z" } }),
      { decision: "destroy", kind: "expired", reason: "expired 24 hours ago (expiresAt 2026-11-28T10:00:00Z)" },
    ],
    ["stack unreadable", stack({ config: {}, outputs: {}, instance: undefined, readError: "passphrase must be set" }), keep("cannot read the stack: passphrase must be set")],
  ];
  for (const [name, input, want, stoppedForHours] of rows) {
    it(name, () => assert.deepEqual(decideStack(input, { ...SETTINGS, ...(stoppedForHours !== undefined ? { stoppedForHours } : {}) }), want));
  }

  it("flags a keep that rests on a failed read, and only that", () => {
    const blind = stack({ instance: undefined, instanceError: "timeout" });
    assert.equal(keptBlind(blind, decideStack(blind, SETTINGS)), true);
    const unread = stack({ readError: "x" });
    assert.equal(keptBlind(unread, decideStack(unread, SETTINGS)), true);
    const seen = stack();
    assert.equal(keptBlind(seen, decideStack(seen, SETTINGS)), false);
    const goneAnyway = stack({ instanceError: "timeout", cfg: { "qwen3-serve:expiresAt": "2026-11-28T10:00:00Z" } });
    assert.equal(keptBlind(goneAnyway, decideStack(goneAnyway, SETTINGS)), false);
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
});

describe("EC2 stop time and region", () => {
  it("parses the stop time from StateTransitionReason", () => {
    assert.equal(parseStopTime("User initiated (2026-11-29 10:00:00 GMT)"), Date.parse("2026-11-29T10:00:00Z"));
    assert.equal(parseStopTime("Service initiated (2026-01-02 03:04:05 GMT)"), Date.parse("2026-01-02T03:04:05Z"));
    for (const bad of [undefined, "", "User initiated", "User initiated (2026-13-45 99:00:00 GMT)", "User initiated (2026-11-29 10:00 GMT)"]) {
      assert.equal(parseStopTime(bad), undefined, String(bad));
    }
  });

  it("reads the state, stop time and last start from a DescribeInstances answer", () => {
    const answer = (State: { Name: "running" | "stopped" }, StateTransitionReason: string) => ({ Reservations: [{ Instances: [{ InstanceId: "i-0abc", State, StateTransitionReason }] }] });
    assert.deepEqual(instanceFromDescribe(answer({ Name: "stopped" }, "User initiated (2026-11-25 10:00:00 GMT)"), "i-0abc"), { state: "stopped", stoppedAt: NOW - 96 * H });
    assert.deepEqual(instanceFromDescribe(answer({ Name: "stopped" }, "Client.UserInitiatedShutdown"), "i-0abc"), { state: "stopped" });
    assert.deepEqual(instanceFromDescribe(answer({ Name: "running" }, ""), "i-0abc"), { state: "running" });
    const launched = { Reservations: [{ Instances: [{ InstanceId: "i-0abc", State: { Name: "running" as const }, LaunchTime: new Date(NOW - 3 * H) }] }] };
    assert.deepEqual(instanceFromDescribe(launched, "i-0abc"), { state: "running", launchedAt: NOW - 3 * H }, "LaunchTime is the last start");
    assert.equal(instanceFromDescribe(answer({ Name: "running" }, ""), "i-0other"), null);
    assert.equal(instanceFromDescribe({ Reservations: [] }, "i-0abc"), null);
  });

  it("treats an unknown instance id as gone, passes the region, and lets other errors through", async () => {
    const asked: [string, string | undefined][] = [];
    const notFound = Object.assign(new Error("The instance ID 'i-0gone' does not exist"), { name: "InvalidInstanceID.NotFound" });
    const lookup = awsEc2Lookup(async (id, region) => {
      asked.push([id, region]);
      if (id === "i-0gone") throw notFound;
      if (id === "i-0deny") throw Object.assign(new Error("not authorized"), { name: "UnauthorizedOperation" });
      return { Reservations: [{ Instances: [{ InstanceId: id, State: { Name: "running" } }] }] };
    });
    assert.deepEqual(await lookup.describe("i-0abc", "eu-west-1"), { state: "running" });
    assert.equal(await lookup.describe("i-0gone", undefined), null);
    await assert.rejects(lookup.describe("i-0deny", "us-east-1"), /not authorized/);
    assert.deepEqual(asked, [["i-0abc", "eu-west-1"], ["i-0gone", undefined], ["i-0deny", "us-east-1"]]);
  });

  it("takes the region from aws:region, else from qwen3-serve:aws", () => {
    assert.equal(regionOf({ "aws:region": "us-west-2", "qwen3-serve:aws": '{"region":"eu-west-1"}' }), "us-west-2");
    assert.equal(regionOf({ "qwen3-serve:aws": '{"region":"eu-west-1","allowedCidrs":["myip"]}' }), "eu-west-1");
    assert.equal(regionOf({ "qwen3-serve:aws": '{"allowedCidrs":["myip"]}' }), undefined);
    assert.equal(regionOf({ "qwen3-serve:aws": "{not json" }), undefined);
    assert.equal(regionOf({}), undefined);
  });
});

describe("reaper flags", () => {
  it("defaults to the clock and 72 hours", () => assert.deepEqual(parseReapSettings({}, 123), { now: 123, stoppedForHours: 72 }));
  it("--now and --stopped-for override them", () => {
    assert.deepEqual(parseReapSettings({ now: "2026-11-29T11:00:00+01:00", stoppedFor: "1.5" }, 123), { now: NOW, stoppedForHours: 1.5 });
    assert.equal(parseReapSettings({ stoppedFor: "0" }, 0).stoppedForHours, 0);
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
        () => parseReapSettings(flags, 0),
        (e: unknown) => isUserError(e) && e.key === key && e.value === value,
      );
    });
  }
});

describe("the Automation API adapter", () => {
  /** A fake `@pulumi/pulumi/automation` whose create methods throw, recording every call. */
  function fakeAutomation(): { api: AutomationApi; calls: string[] } {
    const calls: string[] = [];
    const refuse = (what: string) => (): never => {
      calls.push(what);
      throw new Error(`${what} must never be called`);
    };
    const LocalWorkspace = {
      create: async (opts: { workDir: string }) => {
        calls.push(`create workspace ${opts.workDir}`);
        return { listStacks: async () => [{ name: "dev", current: true, lastUpdate: "2026-11-28T10:00:00.000Z", updateInProgress: false, resourceCount: 12 }, { name: "new", current: false }] };
      },
      selectStack: async (args: { stackName: string; workDir: string }) => {
        calls.push(`select ${args.stackName} in ${args.workDir}`);
        return {
          outputs: async () => ({ instanceId: { value: "i-0abc", secret: false }, apiKey: { value: "sk-1", secret: true } }),
          getAllConfig: async () => ({ "aws:region": { value: "us-east-1", secret: false }, "qwen3-serve:hfToken": { value: "hf_x", secret: true } }),
          destroy: async (opts: { onOutput: (out: string) => void }) => {
            calls.push(`destroy ${args.stackName}`);
            opts.onOutput("Destroying...\n");
            return {};
          },
        };
      },
      createStack: refuse("createStack"),
      createOrSelectStack: refuse("createOrSelectStack"),
    };
    return { api: { LocalWorkspace }, calls };
  }

  it("lists, reads and destroys through selectStack only, one selection per stack", async () => {
    const { api, calls } = fakeAutomation();
    const ws = pulumiWorkspace("/project", async () => api);
    const listing: StackListing[] = await ws.listStacks();
    assert.deepEqual(listing, [{ name: "dev", lastUpdate: "2026-11-28T10:00:00.000Z", updateInProgress: false }, { name: "new", updateInProgress: false }]);
    assert.deepEqual(await ws.outputs("dev"), { instanceId: "i-0abc", apiKey: "sk-1" });
    assert.deepEqual(await ws.config("dev"), { "aws:region": "us-east-1", "qwen3-serve:hfToken": "hf_x" });
    const seen: string[] = [];
    await ws.destroy("dev", (t) => seen.push(t));
    assert.deepEqual(seen, ["Destroying...\n"]);
    assert.deepEqual(calls, ["create workspace /project", "select dev in /project", "destroy dev"]);
  });

  it("the fake's create methods really throw (so the test above could fail)", () => {
    const { api, calls } = fakeAutomation();
    const lw = api.LocalWorkspace as unknown as Record<string, () => unknown>;
    assert.throws(() => lw.createOrSelectStack?.(), /must never be called/);
    assert.deepEqual(calls, ["createOrSelectStack"]);
  });
});

/** One stack in the fake backend. */
interface FakeStack {
  readonly listing: StackListing;
  readonly config: Record<string, string>;
  readonly outputs: Record<string, unknown>;
  /** Make reading the config fail with this Pulumi stderr. */
  readonly readFails?: string;
  /** Make `pulumi destroy` fail with this Pulumi stderr. */
  readonly destroyFails?: string;
}

/** A Pulumi CLI failure as the Automation API throws it: the reason sits in commandResult.stderr. */
function commandError(stderr: string): Error {
  return Object.assign(new Error("code: 255\n stdout: \n stderr: (long command dump)"), { commandResult: { stderr, stdout: "", code: 255 } });
}

const WORKSPACE_METHODS = new Set(["listStacks", "outputs", "config", "destroy"]);

/** A fake workspace that records calls and throws on anything outside ReaperWorkspace (e.g. a create). */
function fakeWorkspace(stacks: FakeStack[], listFails?: string): { ws: ReaperWorkspace; calls: string[]; destroyed: string[] } {
  const calls: string[] = [];
  const destroyed: string[] = [];
  const byName = (name: string): FakeStack => {
    const s = stacks.find((x) => x.listing.name === name);
    if (s === undefined) throw new Error(`no stack named ${name}`);
    return s;
  };
  const impl: ReaperWorkspace = {
    async listStacks() {
      calls.push("listStacks");
      if (listFails !== undefined) throw commandError(listFails);
      return stacks.map((s) => s.listing);
    },
    async outputs(name) {
      calls.push(`outputs ${name}`);
      return byName(name).outputs;
    },
    async config(name) {
      calls.push(`config ${name}`);
      const s = byName(name);
      if (s.readFails !== undefined) throw commandError(s.readFails);
      return s.config;
    },
    async destroy(name, onOutput) {
      calls.push(`destroy ${name}`);
      const s = byName(name);
      onOutput(`Destroying (${name}):\n - 7 deleted\n`);
      if (s.destroyFails !== undefined) throw commandError(s.destroyFails);
      destroyed.push(name);
    },
  };
  const ws = new Proxy(impl, {
    get(target, prop, receiver) {
      if (typeof prop === "string" && !WORKSPACE_METHODS.has(prop)) throw new Error(`the reaper reached for workspace.${prop}, which ReaperWorkspace does not offer`);
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { ws, calls, destroyed };
}

/** A fake EC2 over a map of instance states ("fail": no credentials), recording each lookup. */
function fakeEc2(states: Record<string, ReaperInstance | null | "fail">): { ec2: Ec2Lookup; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    ec2: {
      async describe(id, region) {
        asked.push(`${id}@${region ?? "default"}`);
        const s = states[id];
        if (s === undefined) throw new Error(`the test fleet has no instance ${id}`);
        if (s === "fail") throw Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
        return s;
      },
    },
  };
}

const aws = (name: string, instanceId: string, extra: Record<string, string> = {}, listing: Partial<StackListing> = {}): FakeStack => ({
  listing: { name, updateInProgress: false, lastUpdate: "2026-11-20T10:00:00.000Z", ...listing },
  config: { "aws:region": "us-east-1", "qwen3-serve:model": "Qwen3-8B", ...extra },
  outputs: { instanceId, endpoint: `http://${name}.example:8080/v1` },
});

/** dev runs, lab has expired, old sat stopped 4 days, ws is a workstation, busy is mid-update. */
function fleet(overrides: Partial<Record<string, Partial<FakeStack>>> = {}): FakeStack[] {
  const base: FakeStack[] = [
    aws("dev", "i-0dev"),
    aws("lab", "i-0lab", { "qwen3-serve:expiresAt": "2026-11-28T00:00:00Z" }),
    aws("old", "i-0old"),
    { listing: { name: "ws", updateInProgress: false }, config: { "qwen3-serve:target": "workstation" }, outputs: { instanceId: "ubuntu@gpu-box", endpoint: "http://gpu-box:8080/v1" } },
    aws("busy", "i-0busy", { "qwen3-serve:expiresAt": "2026-11-01T00:00:00Z" }, { updateInProgress: true }),
  ];
  return base.map((s) => ({ ...s, ...overrides[s.listing.name] }));
}

const STATES: Record<string, ReaperInstance | null> = {
  "i-0dev": { state: "running" },
  "i-0lab": { state: "running" },
  "i-0old": { state: "stopped", stoppedAt: NOW - 96 * H },
  "i-0busy": { state: "running" },
};

interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
  calls: string[];
  destroyed: string[];
  asked: string[];
}

async function reap(argv: string[], stacks: FakeStack[] = fleet(), opts: { listFails?: string; states?: Record<string, ReaperInstance | null | "fail"> } = {}): Promise<InProcessRun> {
  const { ws, calls, destroyed } = fakeWorkspace(stacks, opts.listFails);
  const { ec2, asked } = fakeEc2(opts.states ?? STATES);
  let stdout = "";
  let stderr = "";
  const deps: ReapDeps = {
    workspace: () => ws,
    ec2: () => ec2,
    clock: () => NOW,
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  };
  const code = await runReap(argv, deps);
  return { code, stdout, stderr, calls, destroyed, asked };
}

/** The table row for a stack: its cells split on runs of two or more spaces. */
function row(stdout: string, stackName: string): string[] {
  const line = stdout.split("\n").find((l) => l.startsWith(`${stackName} `));
  assert.ok(line !== undefined, `no row for ${stackName} in:\n${stdout}`);
  return line.split(/ {2,}/);
}

describe("npm run reap, in-process against a fake workspace", () => {
  it("a dry run destroys nothing and prints the table with each reason and action", async () => {
    const r = await reap([]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.destroyed, []);
    assert.ok(!r.calls.some((c) => c.startsWith("destroy")), r.calls.join(", "));
    assert.match(r.stdout, /^STACK +DECISION +ACTION +REASON$/m);
    assert.deepEqual(row(r.stdout, "dev"), ["dev", "keep", "nothing", `running; ${NONE}`]);
    assert.deepEqual(row(r.stdout, "lab"), ["lab", "destroy", "would pulumi destroy", "expired 34 hours ago (expiresAt 2026-11-28T00:00:00Z)"]);
    assert.deepEqual(row(r.stdout, "old"), ["old", "destroy", "would pulumi destroy", "stopped for 4 days (limit 72 h)"]);
    assert.deepEqual(row(r.stdout, "ws"), ["ws", "keep", "nothing", `no instance (workstation target); ${NONE}`]);
    assert.deepEqual(row(r.stdout, "busy"), ["busy", "keep", "nothing", "update in progress"]);
    assert.match(r.stdout, /2 stacks would be destroyed \(lab, old\); run again with --yes to destroy\./);
    assert.match(r.stdout, /\(dry run\)/);
    // The workstation stack's instanceId (user@host) is no EC2 instance: EC2 is asked only about the AWS ones, in their region.
    assert.deepEqual(r.asked, ["i-0dev@us-east-1", "i-0lab@us-east-1", "i-0old@us-east-1", "i-0busy@us-east-1"]);
  });

  it("--yes destroys exactly the chosen stacks, and nothing else touches the workspace", async () => {
    const r = await reap(["--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.destroyed, ["lab", "old"]);
    assert.deepEqual(r.calls.filter((c) => c.startsWith("destroy")), ["destroy lab", "destroy old"]);
    assert.deepEqual(row(r.stdout, "lab").slice(0, 3), ["lab", "destroy", "pulumi destroy"]);
    assert.match(r.stdout, /Destroying \(lab\):\n - 7 deleted\n/);
    assert.match(r.stdout, /^Destroyed lab\.$/m);
    assert.match(r.stdout, /^Destroyed 2 of 2 stacks\.$/m);
    assert.equal(r.stderr, "");
  });

  it("--stopped-for and --now change the decisions", async () => {
    const lenient = await reap(["--yes", "--stopped-for", "100", "--now", "2026-11-27T10:00:00Z"]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.deepEqual(lenient.destroyed, []);
    assert.deepEqual(row(lenient.stdout, "lab"), ["lab", "keep", "nothing", "running; expires in 14 hours"]);
    assert.deepEqual(row(lenient.stdout, "old"), ["old", "keep", "nothing", `stopped for 2 days (limit 100 h); ${NONE}`]);
  });

  it("a failing destroy exits 1, names the stack and the reason, and the others still run", async () => {
    const r = await reap(["--yes"], fleet({ lab: { destroyFails: "Destroying (lab):\nerror: the stack is currently locked by 1 lock(s)\n" } }));
    assert.equal(r.code, 1);
    assert.deepEqual(r.calls.filter((c) => c.startsWith("destroy")), ["destroy lab", "destroy old"]);
    assert.deepEqual(r.destroyed, ["old"]);
    assert.match(r.stderr, /^error: pulumi destroy of lab failed: the stack is currently locked by 1 lock\(s\)$/m);
    assert.doesNotMatch(r.stderr, /command dump/);
    assert.match(r.stdout, /^Destroyed 1 of 2 stacks; failed: lab\.$/m);
  });

  it("--json prints one object; under --yes Pulumi's output goes to stderr", async () => {
    const dry = await reap(["--json"]);
    assert.equal(dry.code, 0);
    const doc = JSON.parse(dry.stdout) as { now: string; stoppedForHours: number; yes: boolean; stacks: { stack: string; decision: string; kind: string; reason: string; action: string; destroyed?: boolean }[] };
    assert.equal(doc.now, "2026-11-29T10:00:00.000Z");
    assert.equal(doc.stoppedForHours, 72);
    assert.equal(doc.yes, false);
    assert.deepEqual(
      doc.stacks.map((s) => [s.stack, s.decision, s.kind]),
      [["dev", "keep", "keep"], ["lab", "destroy", "expired"], ["old", "destroy", "stopped"], ["ws", "keep", "keep"], ["busy", "keep", "keep"]],
    );
    assert.equal(doc.stacks[2]?.reason, "stopped for 4 days (limit 72 h)");

    const wet = await reap(["--json", "--yes"], fleet({ old: { destroyFails: "error: access denied" } }));
    assert.equal(wet.code, 1);
    const after = JSON.parse(wet.stdout) as { stacks: { stack: string; destroyed?: boolean; error?: string }[] };
    assert.deepEqual(
      after.stacks.filter((s) => s.destroyed !== undefined),
      [{ stack: "lab", decision: "destroy", kind: "expired", reason: "expired 34 hours ago (expiresAt 2026-11-28T00:00:00Z)", action: "pulumi destroy", destroyed: true }, { stack: "old", decision: "destroy", kind: "stopped", reason: "stopped for 4 days (limit 72 h)", action: "pulumi destroy", destroyed: false, error: "access denied" }],
    );
    assert.match(wet.stderr, /Destroying \(lab\)/);
  });

  it("a stack or instance it cannot read is kept, reported, and exits 1", async () => {
    const r = await reap(["--yes"], fleet({ dev: { readFails: "error: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE" } }), { states: { ...STATES, "i-0old": "fail" } });
    assert.equal(r.code, 1);
    assert.deepEqual(row(r.stdout, "dev"), ["dev", "keep", "nothing", "cannot read the stack: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE"]);
    assert.deepEqual(row(r.stdout, "old"), ["old", "keep", "nothing", `instance i-0old unreadable: CredentialsProviderError: Could not load credentials from any providers; ${NONE}`]);
    assert.deepEqual(r.destroyed, ["lab"]);
    assert.match(r.stderr, /^warning: kept without a full look \(read failed\): dev, old$/m);
  });

  it("when the stacks cannot be listed it says why and exits 1", async () => {
    const r = await reap([], [], { listFails: "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions" });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "error: cannot list this project's stacks: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n");
  });

  it("no stacks: says so and exits 0", async () => {
    const r = await reap(["--yes"], []);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^No stacks in this project\.$/m);
  });

  it("a bad flag value exits 2 before touching the workspace", async () => {
    const r = await reap(["--yes", "--now", "tomorrow"]);
    assert.equal(r.code, 2);
    assert.deepEqual(r.calls, []);
    assert.match(r.stderr, /^error: --now = "tomorrow": not an ISO 8601 time with an offset\.$/m);
  });

  it("the strict fake refuses anything outside ReaperWorkspace (so 'never creates a stack' can fail)", () => {
    const { ws } = fakeWorkspace([]);
    const loose = ws as unknown as Record<string, () => unknown>;
    assert.throws(() => loose.createStack?.(), /workspace\.createStack/);
    assert.throws(() => loose.createOrSelectStack?.(), /workspace\.createOrSelectStack/);
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/reap.ts", ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("npm run reap as a child process", () => {
  it("--help prints the usage and exits 0", async () => {
    const r = await cli("--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: npm run --silent reap -- \[--yes\] \[--stopped-for <hours>\] \[--now <ISO 8601>\] \[--json\]/);
    assert.equal(r.stderr, "");
  });

  it("an unknown flag exits 2 with the valid flags and no stack trace", async () => {
    const r = await cli("--force");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: Unknown option '--force'/);
    assert.match(r.stderr, /^Valid flags: --yes, --stopped-for, --now, --json, --help$/m);
    assert.doesNotMatch(r.stderr, NO_STACK);
    assert.equal(r.stdout, "");
  });

  it("a bad --stopped-for exits 2 naming the flag, the value and what is valid, with no stack trace", async () => {
    const r = await cli("--stopped-for", "a week");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --stopped-for = "a week": not a number of hours\.\nGive hours, 0 or more \(default 72\), e\.g\. 48 or 1\.5\.$/m);
    assert.doesNotMatch(r.stderr, NO_STACK);
  });
});
