/**
 * scripts/wait-terminated.ts, the AWS target's destroy-time wait, as a child process against a loopback
 * fake of the EC2 Query API (the real SDK, pointed at it with AWS_ENDPOINT_URL_EC2 and dummy credentials).
 * The fake answers as EC2 does: DescribeInstances applies the `tag:<key>` and `instance-state-name`
 * filters and answers with the reservationSet/instancesSet shape of the EC2 API reference
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html, read 2026-11-30);
 * errors come as `<Response><Errors><Error><Code>` with HTTP 400 (the shape quoted in
 * terraform-provider-aws PR 41206, read 2026-11-30). A terminated instance stays listed, as on EC2.
 *
 * The script runs as the AWS target's step runs it: the step's own command line (nodeScriptCommand),
 * through /bin/sh as command.local.Command runs it, from a working folder outside this repository.
 *
 * What this proves: the exact filters, the polling until nothing but terminated is left, and the exit
 * codes a destroy depends on. Not proven here: that real EC2 lets the security group go once the
 * instance is terminated (needs an AWS account).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { nodeScriptCommand } from "../components/machine/nodeScript";

/** A working folder outside the repository, as a user's own Pulumi project would be. */
let elsewhere = "";

/** An instance of the fake account: its tags, and its state at each DescribeInstances (the last one stays). */
interface FakeInstance {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly states: readonly string[];
}

const OURS = { "qwen3-serve:project": "qwen3-serve", "qwen3-serve:stack": "dev", "qwen3-serve:component": "dev" };
/** Another stack's machine with the same component name: the stack tag tells them apart. */
const OTHER_STACK = { id: "i-0otherstack", tags: { ...OURS, "qwen3-serve:stack": "lab" }, states: ["running"] };

/** The filters of one request, name to values, in the order sent. */
type Filters = [string, string[]][];

function filtersOf(body: string): Filters {
  const q = new URLSearchParams(body);
  const out: Filters = [];
  for (let n = 1; q.has(`Filter.${n}.Name`); n++) {
    const values: string[] = [];
    for (let m = 1; q.has(`Filter.${n}.Value.${m}`); m++) values.push(q.get(`Filter.${n}.Value.${m}`) ?? "");
    out.push([q.get(`Filter.${n}.Name`) ?? "", values]);
  }
  return out;
}

/** EC2's filter semantics for the two filters the script sends: every filter must match one of its values. */
function matches(filters: Filters, tags: Readonly<Record<string, string>>, state: string): boolean {
  return filters.every(([name, values]) =>
    name === "instance-state-name"
      ? values.includes(state)
      : name.startsWith("tag:")
        ? values.includes(tags[name.slice(4)] ?? "\u0000")
        : false,
  );
}

const STATE_CODES: Readonly<Record<string, number>> = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

function describeResponse(found: { id: string; state: string }[]): string {
  const items = found
    .map(
      (i) =>
        `<item><reservationId>r-0${i.id.slice(2)}</reservationId><ownerId>123456789012</ownerId><groupSet/>` +
        `<instancesSet><item><instanceId>${i.id}</instanceId><instanceType>g4dn.xlarge</instanceType>` +
        `<instanceState><code>${STATE_CODES[i.state]}</code><name>${i.state}</name></instanceState></item>` +
        "</instancesSet></item>",
    )
    .join("");
  return (
    '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
    `<requestId>8f7724cf-496f-496e-8fe3-example</requestId><reservationSet>${items}</reservationSet>` +
    "</DescribeInstancesResponse>"
  );
}

const ERROR = (code: string): string =>
  `<Response><Errors><Error><Code>${code}</Code><Message>You are not authorized to perform this operation.</Message>` +
  "</Error></Errors><RequestID>62bb4b08-2e7d-4c10-9626-5b0f3a2daccc</RequestID></Response>";

/**
 * The script's own lines on stderr. On Node 20 the SDK adds its NodeVersionSupportWarning (Node's own
 * warning format, "(node:<pid>) Warning: ..."), which is not the script's to control.
 */
const ownLines = (stderr: string): string[] => stderr.split("\n").filter((l) => l.startsWith("wait-terminated:"));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Action and filters of each request. */
  readonly requests: { action: string | null; filters: Filters }[];
}

/** Run the script against a fake EC2 holding `instances`, or answering every request with `error`. */
function run(
  fake: { instances: readonly FakeInstance[] } | { error: string },
  env: Record<string, string> = {},
): Promise<Run> {
  const requests: Run["requests"] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const filters = filtersOf(body);
      const n = requests.push({ action: new URLSearchParams(body).get("Action"), filters }) - 1;
      if ("error" in fake) {
        res.writeHead(400, { "content-type": "text/xml" });
        res.end(ERROR(fake.error));
        return;
      }
      const found = fake.instances
        .map((i) => ({ id: i.id, tags: i.tags, state: i.states[Math.min(n, i.states.length - 1)] ?? "terminated" }))
        .filter((i) => matches(filters, i.tags, i.state));
      res.writeHead(200, { "content-type": "text/xml" });
      res.end(describeResponse(found));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      const all = {
        ...process.env,
        AWS_REGION: "eu-west-1",
        QS_TAG_PROJECT: "qwen3-serve",
        QS_TAG_STACK: "dev",
        QS_TAG_COMPONENT: "dev",
        QS_POLL_SECONDS: "0.05",
        AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: "AKIAEXAMPLEFAKE",
        AWS_SECRET_ACCESS_KEY: "fake",
        AWS_MAX_ATTEMPTS: "1",
        ...env,
      };
      execFile(
        "/bin/sh",
        ["-c", nodeScriptCommand("wait-terminated")],
        { cwd: elsewhere, env: all, encoding: "utf8", timeout: 60_000 },
        (err, stdout, stderr) => {
          server.close();
          resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr, requests });
        },
      );
    });
  });
}

/** The filters the script must send for the dev stack's machine. */
const DEV_FILTERS: Filters = [
  ["tag:qwen3-serve:project", ["qwen3-serve"]],
  ["tag:qwen3-serve:stack", ["dev"]],
  ["tag:qwen3-serve:component", ["dev"]],
  ["instance-state-name", ["pending", "running", "stopping", "stopped", "shutting-down"]],
];

describe("wait-terminated, run by the AWS destroy step's own command from a folder outside the repository", {
  concurrency: true,
}, () => {
  before(() => {
    elsewhere = mkdtempSync(path.join(os.tmpdir(), "qs-terminated-cwd-"));
  });
  after(() => rmSync(elsewhere, { recursive: true, force: true }));

  it(
    "polls DescribeInstances with exactly the identity-tag and not-terminated filters; shutting-down at two polls, " +
      "terminated at the third: exit 0 after three requests; another stack's running machine is not waited for",
    async () => {
      const r = await run({
        instances: [
          { id: "i-0dev", tags: OURS, states: ["shutting-down", "shutting-down", "terminated"] },
          OTHER_STACK,
        ],
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.requests, [
        { action: "DescribeInstances", filters: DEV_FILTERS },
        { action: "DescribeInstances", filters: DEV_FILTERS },
        { action: "DescribeInstances", filters: DEV_FILTERS },
      ]);
      assert.equal(r.stdout, "waiting for i-0dev to terminate\nwaiting for i-0dev to terminate\n");
      assert.deepEqual(ownLines(r.stderr), []);
    },
  );

  it("an instance still shutting down at the timeout: exit 1 with one line naming the ids and the describe-instances command", async () => {
    const r = await run(
      {
        instances: [
          { id: "i-0dev", tags: OURS, states: ["shutting-down"] },
          { id: "i-0dev2", tags: OURS, states: ["stopping"] },
        ],
      },
      { QS_TIMEOUT_SECONDS: "0.3" },
    );
    assert.equal(r.code, 1);
    assert.deepEqual(ownLines(r.stderr), [
      "wait-terminated: after 0.3 s, i-0dev, i-0dev2 (tagged qwen3-serve:component=dev) not terminated yet; " +
        "look with: aws ec2 describe-instances --region eu-west-1 --instance-ids i-0dev i-0dev2",
    ]);
    // How many polls fit in 0.3 s depends on how fast the SDK loads; each asked the same.
    assert.ok(r.requests.length >= 1);
    for (const q of r.requests) assert.deepEqual(q, { action: "DescribeInstances", filters: DEV_FILTERS });
  });

  it("an AWS error (UnauthorizedOperation) exits 1 with the reason, after one request", async () => {
    const r = await run({ error: "UnauthorizedOperation" });
    assert.equal(r.code, 1);
    assert.deepEqual(ownLines(r.stderr), [
      "wait-terminated: could not list the instances in eu-west-1: UnauthorizedOperation: " +
        "You are not authorized to perform this operation.",
    ]);
    assert.equal(r.requests.length, 1);
  });

  it("no component tag set: exit 2 naming the setting, nothing sent", async () => {
    const r = await run({ instances: [] }, { QS_TAG_COMPONENT: "" });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "wait-terminated: QS_TAG_COMPONENT is not set\n");
    assert.deepEqual(r.requests, []);
  });
});
