/**
 * `npm run status` against fakes: the Pulumi workspace, EC2 and Auto Scaling (in the SDK's shapes, through
 * the shared inventory's parsers), and loopback OpenAI-compatible endpoints. Every state the issue names,
 * each as its exact line; --json; a stack that cannot be read; bounded concurrency; progress; flags;
 * --watch stopping on SIGINT, in-process and as a child process.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fetchFailure, probeEndpoint, readStatusDoc } from "../components/status/probe";
import type { ProbeResult } from "../components/status/rules";
import type { StatusDeps, Timers } from "../components/status/status";
import { runStatusCli, TEST_FAKES_ENV } from "../scripts/status";
import { readyStatusDoc, startFakeOpenAI, type FakeServer } from "./helpers/fakeOpenAI";
import { awsOutputs, fakeWorld, type FakeStatusStack } from "./helpers/statusFakes";

const ROOT = path.resolve(__dirname, "..");
const at = (iso: string): Date => new Date(iso);

/** The probe with its clock pinned: every probe takes 42 ms, whatever the loopback did. */
const pinnedProbe: StatusDeps["probe"] = (endpoint, key, model) => {
  let t = 1000;
  return probeEndpoint(endpoint, key, model, {
    timeoutSeconds: 2,
    clock: () => {
      t += 42;
      return t;
    },
  });
};
const statusDoc: StatusDeps["statusDoc"] = (url, key) => readStatusDoc(url, key, { timeoutSeconds: 2 });

/**
 * The proxy of a machine whose engine is not up yet: nginx answers 502 for the API (its upstream is not
 * listening) but serves the status document with the key (components/machine/proxy.conf).
 */
async function proxyWithoutEngine(key: string, doc: unknown): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${key}`) return void res.writeHead(401).end();
    if (req.url === "/qwen3-serve/status")
      return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(doc));
    res.writeHead(502, { "Content-Type": "text/html" }).end("<html><body>502 Bad Gateway</body></html>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl: `${root}/v1`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A loopback port nothing listens on: a connection there is refused. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const running = (id: string, launched: string, zone: string): NonNullable<FakeStatusStack["instance"]> => ({
  InstanceId: id,
  State: { Name: "running" },
  LaunchTime: at(launched),
  Placement: { AvailabilityZone: zone },
  Tags: [],
});

interface Fleet {
  readonly stacks: FakeStatusStack[];
  readonly servers: FakeServer[];
  readonly keys: string[];
  close(): Promise<void>;
}

/** Every state of the issue, one stack each, behind loopback endpoints. */
async function everyState(): Promise<Fleet> {
  const servers: FakeServer[] = [];
  const closers: (() => Promise<void>)[] = [];
  const ready = {
    ...readyStatusDoc(),
    bootAt: "2026-11-30T08:48:00Z",
    idle: {
      action: "none",
      reason: "idle for 12 min; stop due at 2026-11-30T12:18:00Z",
      lastActivityAt: "2026-11-30T11:48:00Z",
      stopAt: "2026-11-30T12:18:00Z",
      checkedAt: "2026-11-30T11:59:00Z",
      idleMinutes: 30,
      ttlHours: 8,
    },
  };
  const prod = await startFakeOpenAI({ key: "sk-prod-0001", statusDoc: ready });
  const stopped = await startFakeOpenAI({ key: "sk-stopped-0002" });
  const zero = await startFakeOpenAI({ key: "sk-zero-0003", models: ["Qwen3-32B"] });
  const waking = await startFakeOpenAI({ key: "sk-wake-0004", wakingRequests: 100, models: ["Qwen3-32B"] });
  const box = await startFakeOpenAI({
    key: "sk-box-0005",
    models: ["qwen3:30b-a3b"],
    statusDoc: { ...readyStatusDoc(), bootAt: "2026-11-28T09:30:00Z" },
  });
  const docker = await startFakeOpenAI({ key: "sk-docker-0006", models: ["Qwen3-4B"] });
  servers.push(prod, stopped, zero, waking, box, docker);
  const loading = await proxyWithoutEngine("sk-load-0007", {
    version: 1,
    state: "running",
    phase: "weights",
    progress: { phase: "weights", percent: 42.7, detail: "7.1 of 16.4 GB" },
    bootAt: "2026-11-30T11:50:00Z",
  });
  const failed = await proxyWithoutEngine("sk-fail-0008", {
    version: 1,
    state: "failed",
    phase: "weights",
    error: {
      phase: "weights",
      reason: "HTTP 401 from huggingface.co: gated model, set hfToken",
      at: "2026-11-30T11:40:00Z",
    },
    bootAt: "2026-11-30T11:30:00Z",
  });
  closers.push(loading.close, failed.close);
  const refused = await closedPort();
  const fleetOutputs = (server: FakeServer, key: string, group: string): Record<string, unknown> => ({
    ...awsOutputs({
      endpoint: server.baseUrl,
      apiKey: key,
      instanceId: group,
      instanceType: "g6e.2xlarge",
      zone: "us-west-2a",
      price: 2.242,
      model: "Qwen3-32B",
      engine: "sglang",
    }),
    availabilityZone: undefined,
    awsRegion: "us-west-2",
    autoScalingGroupName: group,
    replicas: { min: 0, max: 4, desired: 0 },
  });
  const cfg = (extra: Record<string, string> = {}): Record<string, string> => ({
    "aws:region": "us-east-1",
    ...extra,
  });
  const stacks: FakeStatusStack[] = [
    {
      name: "prod-8b",
      outputs: awsOutputs({
        endpoint: prod.baseUrl,
        apiKey: "sk-prod-0001",
        instanceId: "i-0aaaaaaaaaaaaaaa1",
        instanceType: "g6.xlarge",
        zone: "us-east-1a",
        price: 0.8048,
      }),
      config: cfg({
        "qwen3-serve:idleMinutes": "30",
        "qwen3-serve:ttlHours": "8",
        "qwen3-serve:expiresAt": "2026-12-05T00:00:00Z",
      }),
      instance: running("i-0aaaaaaaaaaaaaaa1", "2026-11-30T08:48:00Z", "us-east-1a"),
    },
    {
      name: "weekend",
      outputs: awsOutputs({
        endpoint: stopped.baseUrl,
        apiKey: "sk-stopped-0002",
        instanceId: "i-0bbbbbbbbbbbbbbb2",
        instanceType: "g6e.xlarge",
        zone: "us-east-1b",
        price: 1.861,
        model: "Qwen3-14B",
      }),
      config: cfg({ "qwen3-serve:idleMinutes": "60", "qwen3-serve:expiresAt": "2026-11-29T00:00:00Z" }),
      instance: {
        InstanceId: "i-0bbbbbbbbbbbbbbb2",
        State: { Name: "stopped" },
        StateTransitionReason: "User initiated (2026-11-29 18:00:00 GMT)",
        Tags: [],
      },
    },
    {
      name: "fleet-32b",
      outputs: fleetOutputs(zero, "sk-zero-0003", "qwen3-serve-fleet-32b"),
      config: cfg({ "aws:region": "us-west-2", "qwen3-serve:idleMinutes": "30" }),
      group: {
        AutoScalingGroupName: "qwen3-serve-fleet-32b",
        DesiredCapacity: 0,
        MinSize: 0,
        MaxSize: 4,
        Instances: [],
        CreatedTime: at("2026-11-20T10:00:00Z"),
        Tags: [],
        DefaultCooldown: 300,
        AvailabilityZones: ["us-west-2a"],
        HealthCheckType: "ELB",
      },
      activities: [
        {
          ActivityId: "a1",
          AutoScalingGroupName: "qwen3-serve-fleet-32b",
          Cause: "idle",
          StartTime: at("2026-11-30T09:00:00Z"),
          EndTime: at("2026-11-30T09:05:00Z"),
          StatusCode: "Successful",
        },
      ],
    },
    {
      name: "fleet-waking",
      outputs: fleetOutputs(waking, "sk-wake-0004", "qwen3-serve-fleet-waking"),
      config: cfg({ "aws:region": "us-west-2", "qwen3-serve:idleMinutes": "30" }),
      group: {
        AutoScalingGroupName: "qwen3-serve-fleet-waking",
        DesiredCapacity: 1,
        MinSize: 0,
        MaxSize: 4,
        Instances: [
          {
            InstanceId: "i-0ccccccccccccccc3",
            AvailabilityZone: "us-west-2a",
            LifecycleState: "Pending",
            HealthStatus: "Healthy",
            ProtectedFromScaleIn: false,
          },
        ],
        CreatedTime: at("2026-11-20T10:00:00Z"),
        Tags: [],
        DefaultCooldown: 300,
        AvailabilityZones: ["us-west-2a"],
        HealthCheckType: "ELB",
      },
    },
    {
      name: "loading-30b",
      outputs: awsOutputs({
        endpoint: loading.baseUrl,
        apiKey: "sk-load-0007",
        instanceId: "i-0ddddddddddddddd4",
        instanceType: "g6e.xlarge",
        zone: "us-east-1c",
        price: 1.861,
        model: "Qwen3-30B-A3B",
      }),
      config: cfg({ "qwen3-serve:idleMinutes": "30", "qwen3-serve:ttlHours": "4" }),
      instance: running("i-0ddddddddddddddd4", "2026-11-30T11:50:00Z", "us-east-1c"),
    },
    {
      name: "gated",
      outputs: awsOutputs({
        endpoint: failed.baseUrl,
        apiKey: "sk-fail-0008",
        instanceId: "i-0eeeeeeeeeeeeeee5",
        instanceType: "g6.xlarge",
        zone: "us-east-1a",
        price: 0.8048,
        model: "Qwen3-8B",
      }),
      config: cfg(),
      instance: running("i-0eeeeeeeeeeeeeee5", "2026-11-30T11:30:00Z", "us-east-1a"),
    },
    {
      name: "lost",
      outputs: awsOutputs({
        endpoint: `http://127.0.0.1:${refused}/v1`,
        apiKey: "sk-lost-0009",
        instanceId: "i-0fffffffffffffff6",
        instanceType: "g6.xlarge",
        zone: "us-east-1a",
        price: 0.8048,
      }),
      config: cfg(),
      instance: running("i-0fffffffffffffff6", "2026-11-30T10:00:00Z", "us-east-1a"),
    },
    {
      name: "lab-box",
      outputs: {
        ...awsOutputs({
          endpoint: box.baseUrl,
          apiKey: "sk-box-0005",
          instanceId: "ana@gpu-box.lab",
          instanceType: "workstation: 2 x RTX-4090",
          zone: "x",
          price: 0,
          model: "qwen3:30b-a3b",
          engine: "ollama",
        }),
        publicIp: "gpu-box.lab",
        availabilityZone: undefined,
        awsRegion: undefined,
        plan: { version: 1, engine: "ollama", model: { id: "Qwen3-30B-A3B" } },
      },
      config: { "qwen3-serve:target": "workstation", "qwen3-serve:idleMinutes": "off" },
    },
    {
      name: "docker-4b",
      outputs: {
        ...awsOutputs({
          endpoint: docker.baseUrl,
          apiKey: "sk-docker-0006",
          instanceId: "4f1c2d3e4b5a",
          instanceType: "docker: 1 x L4",
          zone: "x",
          price: 0,
          model: "Qwen3-4B",
        }),
        publicIp: "gpu-host.internal",
        statusUrl: "n/a (no bootstrap on the Docker target; see docker logs)",
        availabilityZone: undefined,
        awsRegion: undefined,
      },
      config: { "qwen3-serve:target": "docker" },
    },
    {
      name: "broken",
      outputs: {},
      outputFails: "error: could not decrypt configuration value: incorrect passphrase",
    },
  ];
  const keys = ["sk-prod-0001", "sk-stopped-0002", "sk-zero-0003", "sk-wake-0004", "sk-box-0005", "sk-docker-0006"];
  return {
    stacks,
    servers,
    keys: [...keys, "sk-load-0007", "sk-fail-0008", "sk-lost-0009"],
    close: async () => {
      await Promise.all([...servers.map((s) => s.close()), ...closers.map((c) => c())]);
    },
  };
}

const TABLE = [
  "STACK         TARGET       MODEL          ENGINE  WHERE                  STATE                      " +
    "                                                HEALTH              UP      IDLE                    " +
    "    TTL               EXPIRES              $/H    MONTH",
  "broken        -            -              -       -                      cannot read: could not decrypt configuration value: incorrect passphrase",
  "docker-4b     docker       Qwen3-4B       vllm    gpu-host.internal      running                    " +
    "                                                ok 42 ms            -       off                     " +
    "    -                 -                    $0.00  n/a",
  "fleet-32b     fleet        Qwen3-32B      sglang  g6e.2xlarge us-west-2  at zero replicas           " +
    "                                                -                   -       -                       " +
    "    -                 -                    $0.00  n/a",
  "fleet-waking  fleet        Qwen3-32B      sglang  g6e.2xlarge us-west-2  1 replica                  " +
    "                                                waking (HTTP 503)   -       after 30m idle          " +
    "    -                 -                    $2.24  n/a",
  "gated         aws          Qwen3-8B       vllm    g6.xlarge us-east-1a   failed in weights: HTTP 401" +
    " from huggingface.co: gated model, set hfToken  HTTP 502            30m     off                     " +
    "    -                 -                    $0.80  n/a",
  "lab-box       workstation  Qwen3-30B-A3B  ollama  gpu-box.lab            ready                      " +
    "                                                ok 42 ms            2d 2h   off                     " +
    "    -                 -                    $0.00  n/a",
  "loading-30b   aws          Qwen3-30B-A3B  vllm    g6e.xlarge us-east-1c  loading weights 42%        " +
    "                                                HTTP 502            10m     after 30m idle          " +
    "    4h (3h 50m left)  -                    $1.86  n/a",
  "lost          aws          Qwen3-8B       vllm    g6.xlarge us-east-1a   running                    " +
    "                                                connection refused  2h 00m  off                     " +
    "    -                 -                    $0.80  n/a",
  "prod-8b       aws          Qwen3-8B       vllm    g6.xlarge us-east-1a   ready                      " +
    "                                                ok 42 ms            3h 12m  last 12m ago, stops in 1" +
    "8m  8h (4h 48m left)  in 4d 12h            $0.80  n/a",
  "weekend       aws          Qwen3-14B      vllm    g6e.xlarge us-east-1b  stopped                    " +
    "                                                -                   -       -                       " +
    "    -                 expired 36h 00m ago  $0.00  n/a",
];

describe("npm run status against fakes of every state", () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await everyState();
  });
  after(async () => fleet.close());

  it("prints the exact line of each state: ready, stopped, at zero, waking, loading, failed, refused, unreadable (exit 1)", async () => {
    const { deps, log } = fakeWorld(fleet.stacks, { probe: pinnedProbe, statusDoc });
    const code = await runStatusCli([], { status: deps, stdoutTty: false });
    assert.equal(log.out, `${TABLE.join("\n")}\n`);
    assert.equal(log.err, "warning: could not read: broken\n");
    assert.equal(code, 1);
    for (const key of fleet.keys) assert.ok(!log.out.includes(key) && !log.err.includes(key), `${key} printed`);
  });

  it("sends the stack's key to GET /v1/models, and nothing to a stopped machine or a fleet at zero (a keyed request would wake it)", async () => {
    const [prod, stopped, zero] = fleet.servers;
    assert.ok(prod !== undefined && stopped !== undefined && zero !== undefined);
    const before = prod.requests.length;
    const { deps } = fakeWorld(fleet.stacks, { probe: pinnedProbe, statusDoc });
    await runStatusCli([], { status: deps, stdoutTty: false });
    const seen = prod.requests
      .slice(before)
      .map((r) => `${r.method} ${r.path} ${r.authorization ?? ""}`)
      .sort();
    assert.deepEqual(seen, ["GET /qwen3-serve/status Bearer sk-prod-0001", "GET /v1/models Bearer sk-prod-0001"]);
    assert.equal(stopped.requests.length, 0);
    assert.equal(zero.requests.length, 0);
  });

  it("--json prints one object with a stacks array: values behind the cells, the unreadable stack's error, no key", async () => {
    const { deps, log } = fakeWorld(fleet.stacks, { probe: pinnedProbe, statusDoc });
    const code = await runStatusCli(["--json"], { status: deps, stdoutTty: false });
    assert.equal(code, 1);
    const doc = JSON.parse(log.out) as { now: string; stacks: Record<string, unknown>[] };
    assert.equal(doc.now, "2026-11-30T12:00:00.000Z");
    const byName = new Map(doc.stacks.map((s) => [s.stack ?? "", s]));
    assert.deepEqual(byName.get("broken"), {
      stack: "broken",
      error: "cannot read: could not decrypt configuration value: incorrect passphrase",
    });
    assert.deepEqual(byName.get("prod-8b"), {
      stack: "prod-8b",
      target: "aws",
      model: "Qwen3-8B",
      engine: "vllm",
      where: "g6.xlarge us-east-1a",
      machine: { state: "running", startedAt: Date.parse("2026-11-30T08:48:00Z") },
      state: "ready",
      bootstrap: { state: "ready" },
      health: { ok: true, latencyMs: 42, modelListed: true, text: "ok 42 ms" },
      startedAt: "2026-11-30T08:48:00.000Z",
      uptimeSeconds: 11520,
      idle: {
        source: "status",
        lastRequestAt: "2026-11-30T11:48:00.000Z",
        stopAt: "2026-11-30T12:18:00.000Z",
        idleMinutes: 30,
      },
      ttlHours: 8,
      expiresAt: "2026-12-05T00:00:00Z",
      pricePerHourNow: 0.8048,
      monthToDate: { unavailable: "the fakes carry no cost history" },
    });
    assert.deepEqual(byName.get("loading-30b")?.bootstrap, { state: "loading", phase: "weights", percent: 42.7 });
    assert.deepEqual(byName.get("gated")?.bootstrap, {
      state: "failed",
      phase: "weights",
      reason: "HTTP 401 from huggingface.co: gated model, set hfToken",
    });
    assert.deepEqual(byName.get("fleet-32b")?.machine, { state: "zero", since: Date.parse("2026-11-30T09:05:00Z") });
    assert.equal(byName.get("fleet-32b")?.health, null);
    assert.equal((byName.get("lost")?.health as { kind: string } | undefined)?.kind, "refused");
    assert.equal((byName.get("fleet-waking")?.health as { text: string } | undefined)?.text, "waking (HTTP 503)");
    for (const key of fleet.keys) assert.ok(!log.out.includes(key), `${key} printed`);
  });

  it("--stack shows one stack (by name) and reads no other; an unknown name exits 2 listing the stacks", async () => {
    const reads: string[] = [];
    const { deps, log } = fakeWorld(fleet.stacks, { probe: pinnedProbe, statusDoc }, { onRead: (n) => reads.push(n) });
    assert.equal(await runStatusCli(["--stack", "weekend"], { status: deps, stdoutTty: false }), 0);
    assert.deepEqual(reads, ["weekend"]);
    assert.equal(
      log.out,
      "STACK    TARGET  MODEL      ENGINE  WHERE                  STATE    HEALTH  UP  IDLE  TTL  EXPIRES  " +
        "            $/H    MONTH\nweekend  aws     Qwen3-14B  vllm    g6e.xlarge us-east-1b  stopped  -     " +
        "  -   -     -    expired 36h 00m ago  $0.00  n/a\n",
    );
    const other = fakeWorld(fleet.stacks, { probe: pinnedProbe, statusDoc });
    assert.equal(await runStatusCli(["--stack", "nope"], { status: other.deps, stdoutTty: false }), 2);
    assert.match(
      other.log.err,
      /^error: --stack "nope": no such stack in this project\. Listed: broken, docker-4b, fleet-32b, /,
    );
  });
});

describe("npm run status: reading", () => {
  const ok: ProbeResult = { ok: true, latencyMs: 42, modelListed: true };
  const many = (n: number): FakeStatusStack[] =>
    Array.from({ length: n }, (_, i) => {
      const id = `i-0${String(i).padStart(16, "0")}`;
      return {
        name: `s${String(i).padStart(2, "0")}`,
        outputs: awsOutputs({
          endpoint: "http://x.invalid/v1",
          apiKey: "k",
          instanceId: id,
          instanceType: "g6.xlarge",
          zone: "us-east-1a",
          price: 1,
        }),
        config: { "aws:region": "us-east-1" },
        instance: running(id, "2026-11-30T11:00:00Z", "us-east-1a"),
      };
    });

  it("never has more than --concurrency stacks in flight (3 of 10, read to probe, counted in the fakes)", async () => {
    let inFlight = 0;
    let most = 0;
    const probe: StatusDeps["probe"] = async () => {
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      return ok;
    };
    const { deps } = fakeWorld(
      many(10),
      { probe, statusDoc: async () => ({ error: "n/a" }) },
      {
        delayMs: 10,
        onRead: () => {
          inFlight += 1;
          most = Math.max(most, inFlight);
        },
      },
    );
    assert.equal(await runStatusCli(["--concurrency", "3"], { status: deps, stdoutTty: false }), 0);
    assert.equal(most, 3);
    assert.equal(inFlight, 0);
  });

  it("shows a live progress line on a terminal's stderr, and nothing extra when it is not one", async () => {
    const live = fakeWorld(many(3), { probe: async () => ok, statusDoc: async () => ({ error: "n/a" }) });
    await runStatusCli(["--concurrency", "1"], { status: { ...live.deps, progressTty: true }, stdoutTty: false });
    assert.equal(
      live.log.err,
      "\r\x1b[2KReading stacks: 0/3\r\x1b[2KReading stacks: 1/3\r\x1b[2KReading stacks: 2/3\r\x1b[2KReading stacks: 3/3\r\x1b[2K",
    );
    const piped = fakeWorld(many(3), { probe: async () => ok, statusDoc: async () => ({ error: "n/a" }) });
    await runStatusCli([], { status: piped.deps, stdoutTty: false });
    assert.equal(piped.log.err, "");
  });

  it("exits 1 with Pulumi's reason when the stacks cannot be listed, printing no table", async () => {
    const { deps, log } = fakeWorld(
      [],
      { probe: async () => ok, statusDoc: async () => ({ error: "n/a" }) },
      {
        listFails: "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions",
      },
    );
    assert.equal(await runStatusCli([], { status: deps, stdoutTty: false }), 1);
    assert.equal(log.out, "");
    assert.equal(
      log.err,
      "error: cannot list this project's stacks: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n",
    );
  });

  it("exits 2 naming the flag for --concurrency 0, --watch abc, --watch off a terminal, --watch with --json, an unknown flag", async () => {
    const cases: [string[], boolean, RegExp][] = [
      [["--concurrency", "0"], false, /^error: --concurrency "0": not a whole number from 1 to 64/],
      [["--watch", "abc"], true, /^error: --watch "abc": not a number of seconds from 1 to 3600/],
      [["--watch", "5"], false, /^error: --watch redraws a terminal, and stdout is not one/],
      [["--watch", "5", "--json"], true, /^error: --watch redraws a table; it does not combine with --json/],
    ];
    for (const [argv, tty, want] of cases) {
      const { deps, log } = fakeWorld([], { probe: async () => ok, statusDoc: async () => ({ error: "n/a" }) });
      assert.equal(await runStatusCli(argv, { status: deps, stdoutTty: tty }), 2, argv.join(" "));
      assert.match(log.err, want);
      assert.equal(log.out, "");
    }
    // scripts/cli.ts parseFlags words an unknown flag on the process's stderr (its own tests pin the words).
    const { deps, log } = fakeWorld([], { probe: async () => ok, statusDoc: async () => ({ error: "n/a" }) });
    assert.equal(await runStatusCli(["--jsn"], { status: deps, stdoutTty: false }), 2);
    assert.equal(log.out, "");
  });
});

describe("npm run status: the probe", () => {
  it("reports a wrong key as HTTP 401, an unlisted model, a hung endpoint as a timeout, and undici's ENOTFOUND cause as DNS", async () => {
    const server = await startFakeOpenAI({ key: "right" });
    const hung = http.createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
    try {
      assert.deepEqual(await probeEndpoint(server.baseUrl, "wrong", "Qwen3-8B"), {
        ok: false,
        kind: "http",
        status: 401,
        detail: "Unauthorized",
      });
      const ok = await probeEndpoint(server.baseUrl, "right", "Qwen3-32B");
      assert.equal(ok.ok && ok.modelListed, false);
      const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/v1`;
      assert.deepEqual(await probeEndpoint(url, "k", "m", { timeoutSeconds: 0.2 }), {
        ok: false,
        kind: "timeout",
        detail: "0.2 s",
      });
    } finally {
      hung.closeAllConnections();
      hung.close();
      await server.close();
    }
    // undici's fetch rejects with TypeError("fetch failed") and the socket error as its cause (seen with Node 20/22).
    const dns = fetchFailure(
      Object.assign(new TypeError("fetch failed"), {
        cause: Object.assign(new Error("getaddrinfo ENOTFOUND x"), { code: "ENOTFOUND" }),
      }),
      5,
    );
    assert.deepEqual(dns, { ok: false, kind: "dns", detail: "host not found" });
  });
});

/** Timers that fire only when the test says so. */
function manualTimers(): Timers & { pending: Map<number, { fn: () => void; ms: number }>; fire(): void } {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 0;
  return {
    pending,
    set: (fn, ms) => {
      next += 1;
      pending.set(next, { fn, ms });
      return next;
    },
    clear: (h) => void pending.delete(h as number),
    fire() {
      const [[id, t]] = [...pending.entries()] as [[number, { fn: () => void; ms: number }]];
      pending.delete(id);
      t.fn();
    },
  };
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "condition not reached");
};

describe("npm run status --watch", () => {
  it("redraws every N seconds, and on SIGINT clears its timer, drops its listener, shows the cursor and resolves 0", async () => {
    const signals = new EventEmitter();
    const timers = manualTimers();
    const ok: ProbeResult = { ok: true, latencyMs: 42, modelListed: true };
    const { deps, log } = fakeWorld([], { probe: async () => ok, statusDoc: async () => ({ error: "n/a" }) });
    const done = runStatusCli(["--watch", "5"], {
      status: { ...deps, signals: signals as unknown as StatusDeps["signals"], timers },
      stdoutTty: true,
    });
    await until(() => timers.pending.size === 1);
    assert.deepEqual(
      [...timers.pending.values()].map((t) => t.ms),
      [5000],
    );
    const frame =
      "\x1b[H\x1b[2Jqwen3-serve status at 2026-11-30T12:00:00Z, every 5 s (Ctrl-C to stop)\n\nNo stacks in this project.\n";
    const out = (): string => log.out;
    assert.equal(out(), `\x1b[?25l${frame}`);
    timers.fire();
    await until(() => timers.pending.size === 1);
    assert.equal(out(), `\x1b[?25l${frame}${frame}`);
    signals.emit("SIGINT");
    assert.equal(await done, 0);
    assert.equal(timers.pending.size, 0);
    assert.equal(signals.listenerCount("SIGINT"), 0);
    assert.equal(out(), `\x1b[?25l${frame}${frame}\x1b[?25h\n`);
  });

  it("as a child process: Ctrl-C (SIGINT) after the first frame exits 0 with the cursor shown again", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "scripts", "status.ts"), "--watch", "1"],
      {
        cwd: ROOT,
        env: { ...process.env, [TEST_FAKES_ENV]: path.join(ROOT, "test", "helpers", "statusFakes.ts") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (t: string) => {
      out += t;
    });
    child.stderr.setEncoding("utf8").on("data", (t: string) => {
      err += t;
    });
    const exit = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    await until(() => out.includes("stopped"));
    child.kill("SIGINT");
    assert.equal(await exit, 0, err);
    assert.ok(out.startsWith("\x1b[?25l\x1b[H\x1b[2Jqwen3-serve status at "), out);
    assert.ok(out.endsWith("\x1b[?25h\n"), out);
  });

  it("refuses a test-fakes module outside the checkout's test/ folder", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "status.ts")], {
      cwd: ROOT,
      env: { ...process.env, [TEST_FAKES_ENV]: path.join(ROOT, "scripts", "cli.ts") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (t: string) => {
      err += t;
    });
    assert.equal(await new Promise((r) => child.on("close", r)), 1);
    assert.match(err, /QWEN3_SERVE_STATUS_TEST_FAKES must name a module under /);
  });
});
