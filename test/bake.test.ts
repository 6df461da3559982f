/**
 * `npm run bake`: the pure rules (components/bake/rules.ts) by table, and the command in-process
 * against a fake workspace and a fake EC2 that answers like EC2: a new image is pending for a few
 * polls, then available; CreateImage works on a running or a stopped instance; StopInstances goes
 * through stopping to stopped; an unknown instance id is InvalidInstanceID.NotFound (EC2 API
 * reference, CreateImage, DescribeImages, StopInstances, error codes; read 2026-11-30).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BakeEc2, BakeInstance } from "../components/bake/bake";
import {
  bakeRefusal,
  bakeTags,
  bakeTarget,
  type BakeTarget,
  imageName,
  pinText,
  type Tag,
} from "../components/bake/rules";
import { isUserError } from "../components/errors/userError";
import type { Bootstrap } from "../components/status/rules";
import { type BakeDeps, runBake } from "../scripts/bake";
import { type FakeStatusStack, fakeWorkspace } from "./helpers/statusFakes";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const ID = "i-0123456789abcdef0";
const REPLICA = "i-0fedcba9876543210";
const SHA = "a".repeat(40);

function outputs(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    endpoint: "http://dev.invalid/v1",
    modelName: "Qwen3-8B",
    apiKey: "sk-bake-test-key-0001",
    instanceId: ID,
    amiId: "ami-0123456789abcdef0",
    awsRegion: "us-east-1",
    statusUrl: "http://dev.invalid/qwen3-serve/status",
    plan: {
      version: 1,
      engine: "vllm",
      model: { id: "Qwen3-8B" },
      serve: { image: "vllm/vllm-openai:v0.11.0", weights: { source: "hf", ref: "Qwen/Qwen3-8B", revision: SHA } },
    },
    ...extra,
  };
}
const FLEET = outputs({ instanceId: "fleet", autoScalingGroupName: "qwen3-serve-web" });

const userErrorKey = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (isUserError(e)) return e.key;
    throw e;
  }
  return "(no error)";
};

describe("bake rules", () => {
  it("bakeTarget: a single machine is its instance in the outputs' region", () => {
    assert.deepEqual(bakeTarget("dev", outputs(), {}, undefined), { instanceId: ID, region: "us-east-1" });
  });

  it("bakeTarget: a fleet replica named by --instance carries the group", () => {
    assert.deepEqual(bakeTarget("web", FLEET, {}, REPLICA), {
      instanceId: REPLICA,
      region: "us-east-1",
      group: "qwen3-serve-web",
    });
  });

  const refusals: [string, () => unknown, string][] = [
    ["a fleet without --instance", () => bakeTarget("web", FLEET, {}, undefined), "instance"],
    ["a fleet with a malformed --instance", () => bakeTarget("web", FLEET, {}, "web-1"), "instance"],
    ["a single machine with another --instance", () => bakeTarget("dev", outputs(), {}, REPLICA), "instance"],
    ["a Docker stack", () => bakeTarget("box", outputs(), { "qwen3-serve:target": "docker" }, undefined), "stack"],
    ["outputs that are not this program's", () => bakeTarget("x", { endpoint: "e" }, {}, undefined), "stack"],
    ["no region anywhere", () => bakeTarget("dev", outputs({ awsRegion: undefined }), {}, undefined), "stack"],
  ];
  for (const [what, fn, key] of refusals)
    it(`bakeTarget refuses ${what} with a UserError keyed ${key}`, () => assert.equal(userErrorKey(fn), key));

  const single: BakeTarget = { instanceId: ID, region: "us-east-1" };
  const fleet: BakeTarget = { instanceId: REPLICA, region: "us-east-1", group: "g" };
  const states: [string, Bootstrap, BakeTarget, boolean, string | undefined][] = [
    ["ready", { state: "ready" }, single, false, undefined],
    ["ready, --stop", { state: "ready" }, single, true, undefined],
    [
      "loading",
      { state: "loading", phase: "weights", percent: 40 },
      single,
      false,
      "its bootstrap is still running (phase weights); bake once npm run status shows it ready",
    ],
    [
      "failed",
      { state: "failed", phase: "load", reason: "out of memory" },
      single,
      false,
      "its bootstrap failed in phase load (out of memory); an image of it would hold the failure",
    ],
    [
      "unreadable",
      { state: "unreadable", reason: "HTTP 502" },
      single,
      false,
      "its status could not be read (HTTP 502); bake only a machine that answers ready",
    ],
    [
      "a fleet replica with --stop",
      { state: "ready" },
      fleet,
      true,
      "--stop would make Auto Scaling group g replace the stopped replica; bake a fleet replica with the reboot (no --stop)",
    ],
  ];
  for (const [what, boot, target, stop, want] of states)
    it(`bakeRefusal: ${what} -> ${want === undefined ? "bake" : "refuse"}`, () =>
      assert.equal(bakeRefusal(boot, target, stop), want));

  it("bakeTags name the stack, project, source instance and AMI, model and revision, engine image and driver", () => {
    const tags = bakeTags("dev", "qwen3-serve", single, outputs(), {
      "qwen3-serve:aws": JSON.stringify({ ami: "ubuntu-24.04" }),
    });
    assert.deepEqual(tags, [
      { Key: "qwen3-serve:baked-from", Value: "dev" },
      { Key: "qwen3-serve:project", Value: "qwen3-serve" },
      { Key: "qwen3-serve:source-instance", Value: ID },
      { Key: "qwen3-serve:source-ami", Value: "ami-0123456789abcdef0" },
      { Key: "qwen3-serve:model", Value: "Qwen/Qwen3-8B" },
      { Key: "qwen3-serve:model-revision", Value: SHA },
      { Key: "qwen3-serve:engine-image", Value: "vllm/vllm-openai:v0.11.0" },
      { Key: "qwen3-serve:engine", Value: "vllm" },
      { Key: "qwen3-serve:ami-family", Value: "ubuntu-24.04" },
      { Key: "qwen3-serve:driver", Value: "nvidia 580 branch" },
    ]);
  });

  it("imageName: the stack and the second, in CreateImage's allowed characters", () => {
    assert.equal(imageName("dev", "2026-11-30T12:00:00.000Z"), "qwen3-serve dev 2026-11-30T120000Z");
    assert.equal(
      imageName("org/proj/dev#1", "2026-11-30T12:00:00.000Z"),
      "qwen3-serve org/proj/dev_1 2026-11-30T120000Z",
    );
  });

  it("pinText: the qwen3-serve:aws block with amiId, and the pulumi config command", () => {
    assert.equal(
      pinText("org/proj/dev", "ami-0abcdef0123456789"),
      "Pin it in Pulumi.dev.yaml, inside the existing qwen3-serve:aws block:\n" +
        "qwen3-serve:aws:\n" +
        "  amiId: ami-0abcdef0123456789\n" +
        "or: pulumi config set --path 'qwen3-serve:aws.amiId' ami-0abcdef0123456789 --stack org/proj/dev",
    );
  });
});

/** An EC2 that answers like EC2 at the BakeEc2 boundary, recording calls. */
class FakeEc2 implements BakeEc2 {
  readonly calls: string[] = [];
  readonly images = new Map<string, { polls: number; tags: readonly Tag[]; noReboot: boolean; fail?: string }>();
  /** Polls a new image stays pending. */
  pendingPolls = 2;
  /** Make the next image fail with this reason. */
  failWith: string | undefined;
  private readonly instances = new Map<string, { state: string; group?: string; transitions: string[] }>();

  add(id: string, state: string, group?: string): void {
    this.instances.set(id, { state, transitions: [], ...(group !== undefined ? { group } : {}) });
  }
  private known(id: string) {
    const i = this.instances.get(id);
    if (i === undefined)
      throw Object.assign(new Error(`The instance ID '${id}' does not exist`), { name: "InvalidInstanceID.NotFound" });
    return i;
  }
  async describeInstance(id: string): Promise<BakeInstance | null> {
    this.calls.push(`describe ${id}`);
    const i = this.instances.get(id);
    if (i === undefined) return null;
    // A stop or start moves one state per look: stopping -> stopped, pending -> running.
    const next = i.transitions.shift();
    if (next !== undefined) i.state = next;
    return { state: i.state, group: i.group };
  }
  async createImage(req: {
    instanceId: string;
    name: string;
    noReboot: boolean;
    tags: readonly Tag[];
  }): Promise<string> {
    const i = this.known(req.instanceId);
    this.calls.push(`create-image ${req.instanceId} noReboot=${req.noReboot} (instance ${i.state})`);
    const id = `ami-0${String(this.images.size + 1).padStart(16, "0")}`;
    this.images.set(id, {
      polls: 0,
      tags: req.tags,
      noReboot: req.noReboot,
      ...(this.failWith !== undefined ? { fail: this.failWith } : {}),
    });
    return id;
  }
  async imageState(imageId: string): Promise<{ state: string; reason?: string }> {
    const img = this.images.get(imageId);
    assert.ok(img !== undefined);
    img.polls++;
    if (img.polls <= this.pendingPolls) return { state: "pending" };
    return img.fail === undefined ? { state: "available" } : { state: "failed", reason: img.fail };
  }
  async stopInstance(id: string): Promise<void> {
    const i = this.known(id);
    this.calls.push(`stop ${id}`);
    i.state = "stopping";
    i.transitions = ["stopping", "stopped"];
  }
  async startInstance(id: string): Promise<void> {
    const i = this.known(id);
    this.calls.push(`start ${id}`);
    i.state = "pending";
    i.transitions = ["running"];
  }
}

interface Run {
  code: number;
  out: string;
  err: string;
  sleeps: number;
}

async function bakeRun(
  argv: string[],
  ec2: FakeEc2,
  stacks: FakeStatusStack[],
  boot: Bootstrap = { state: "ready" },
): Promise<Run> {
  const run: Run = { code: -1, out: "", err: "", sleeps: 0 };
  const deps: BakeDeps = {
    workspace: () => fakeWorkspace(stacks),
    bootstrap: async (url, key) => {
      assert.deepEqual([url, key], ["http://dev.invalid/qwen3-serve/status", "sk-bake-test-key-0001"]);
      return boot;
    },
    ec2: (region) => {
      assert.equal(region, "us-east-1");
      return ec2;
    },
    waits: {
      sleep: async () => {
        run.sleeps++;
      },
      pollMs: 1,
      imagePolls: 5,
      instancePolls: 5,
    },
    project: () => "qwen3-serve",
    clock: () => NOW,
    stdout: (t) => {
      run.out += t;
    },
    stderr: (t) => {
      run.err += t;
    },
  };
  run.code = await runBake(argv, deps);
  return run;
}

const DEV: FakeStatusStack = { name: "dev", outputs: outputs() };
const WEB: FakeStatusStack = { name: "web", outputs: FLEET };

describe("npm run bake, in-process against a fake workspace and a fake EC2", () => {
  it("by default images the running machine with EC2's reboot, tags it, waits until available and prints the pin", async () => {
    const ec2 = new FakeEc2();
    ec2.add(ID, "running");
    const r = await bakeRun(["-s", "dev"], ec2, [DEV]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(ec2.calls, [`describe ${ID}`, `create-image ${ID} noReboot=false (instance running)`]);
    assert.equal(r.sleeps, 2, "two pending polls, then available");
    const image = ec2.images.get("ami-00000000000000001");
    assert.deepEqual(image?.tags.slice(0, 2), [
      { Key: "qwen3-serve:baked-from", Value: "dev" },
      { Key: "qwen3-serve:project", Value: "qwen3-serve" },
    ]);
    assert.match(r.out, /Image ami-00000000000000001 is available\.\n/);
    assert.match(r.out, /\nqwen3-serve:aws:\n {2}amiId: ami-00000000000000001\n/);
  });

  it("--stop stops and waits until stopped, images with NoReboot, then starts the machine again", async () => {
    const ec2 = new FakeEc2();
    ec2.add(ID, "running");
    const r = await bakeRun(["-s", "dev", "--stop"], ec2, [DEV]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(ec2.calls, [
      `describe ${ID}`,
      `stop ${ID}`,
      `describe ${ID}`,
      `describe ${ID}`,
      `create-image ${ID} noReboot=true (instance stopped)`,
      `start ${ID}`,
    ]);
  });

  it("refuses a machine whose bootstrap is not ready, before any EC2 call (exit 2)", async () => {
    const ec2 = new FakeEc2();
    ec2.add(ID, "running");
    const r = await bakeRun(["-s", "dev"], ec2, [DEV], { state: "loading", phase: "weights", percent: 10 });
    assert.equal(r.code, 2);
    assert.deepEqual(ec2.calls, []);
    assert.match(r.err, /error: not baking dev: its bootstrap is still running \(phase weights\)/);
  });

  it("refuses a fleet without --instance (exit 2)", async () => {
    const r = await bakeRun(["-s", "web"], new FakeEc2(), [WEB]);
    assert.equal(r.code, 2);
    assert.match(r.err, /error: --instance = "\(none\)": stack web is a fleet/);
  });

  it("refuses a fleet --instance that is not a replica of its group (exit 1)", async () => {
    const ec2 = new FakeEc2();
    ec2.add(REPLICA, "running", "another-group");
    const r = await bakeRun(["-s", "web", "--instance", REPLICA], ec2, [WEB]);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`instance ${REPLICA} is not a replica of Auto Scaling group qwen3-serve-web`));
    assert.deepEqual(ec2.calls, [`describe ${REPLICA}`]);
  });

  it("bakes a fleet replica named by --instance with the reboot", async () => {
    const ec2 = new FakeEc2();
    ec2.add(REPLICA, "running", "qwen3-serve-web");
    const r = await bakeRun(["-s", "web", "--instance", REPLICA], ec2, [WEB]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(ec2.calls, [`describe ${REPLICA}`, `create-image ${REPLICA} noReboot=false (instance running)`]);
  });

  it("an instance EC2 does not know fails with InvalidInstanceID.NotFound (exit 1)", async () => {
    const r = await bakeRun(["-s", "dev"], new FakeEc2(), [DEV]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /EC2 does not know instance i-0123456789abcdef0 in this region \(InvalidInstanceID\.NotFound\)/,
    );
  });

  it("a machine EC2 reports stopped is refused: it must be running (exit 1)", async () => {
    const ec2 = new FakeEc2();
    ec2.add(ID, "stopped");
    const r = await bakeRun(["-s", "dev"], ec2, [DEV]);
    assert.equal(r.code, 1);
    assert.match(r.err, /instance i-0123456789abcdef0 is stopped, not running/);
  });

  it("an image that fails reports EC2's reason (exit 1)", async () => {
    const ec2 = new FakeEc2();
    ec2.add(ID, "running");
    ec2.failWith = "snapshot creation failed";
    const r = await bakeRun(["-s", "dev"], ec2, [DEV]);
    assert.equal(r.code, 1);
    assert.match(r.err, /image ami-00000000000000001 is failed: snapshot creation failed/);
  });

  it("gives up after the most polls and says which image (exit 1)", async () => {
    const ec2 = new FakeEc2();
    ec2.add(ID, "running");
    ec2.pendingPolls = 99;
    const r = await bakeRun(["-s", "dev"], ec2, [DEV]);
    assert.equal(r.code, 1);
    assert.equal(r.sleeps, 5);
    assert.match(r.err, /gave up waiting for image ami-00000000000000001/);
  });

  it("without -s it exits 2 and shows the usage", async () => {
    const r = await bakeRun([], new FakeEc2(), [DEV]);
    assert.equal(r.code, 2);
    assert.match(r.err, /error: name the stack to bake with -s <stack>\.\nUsage: npm run --silent bake/);
  });
});
