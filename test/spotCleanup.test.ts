/**
 * scripts/cancel-spot-request.ts, the AWS target's delete-time step for a persistent spot request,
 * as a child process against a loopback fake of the EC2 Query API (the real SDK, pointed at it
 * with AWS_ENDPOINT_URL_EC2). The fake answers as EC2 does: the CancelSpotInstanceRequests
 * response from the EC2 API reference, and errors as `<Response><Errors><Error><Code>` with
 * HTTP 400 (the shape quoted in terraform-provider-aws PR 41206, read 2026-11-30).
 *
 * The script runs as the AWS target's step runs it: the step's own command line
 * (nodeScriptCommand), through /bin/sh as command.local.Command runs it, from a working folder
 * outside this repository.
 *
 * What this proves: the exact request, and the exit codes a destroy depends on. Not proven here:
 * that real EC2 then launches no replacement (needs an AWS account).
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

const OK = (id: string): string =>
  '<CancelSpotInstanceRequestsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
  "<requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>" +
  `<spotInstanceRequestSet><item><spotInstanceRequestId>${id}</spotInstanceRequestId><state>cancelled</state></item>` +
  "</spotInstanceRequestSet></CancelSpotInstanceRequestsResponse>";
const ERROR = (code: string): string =>
  `<Response><Errors><Error><Code>${code}</Code><Message>${code}</Message></Error></Errors>` +
  "<RequestID>62bb4b08-2e7d-4c10-9626-5b0f3a2daccc</RequestID></Response>";

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly requests: string[];
}

/** Run the script against a fake EC2 that answers every request with `reply`. */
function run(id: string, reply: { status: number; body: string }): Promise<Run> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      requests.push(body);
      res.writeHead(reply.status, { "content-type": "text/xml" });
      res.end(reply.body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      const env = {
        ...process.env,
        QS_SPOT_REQUEST_ID: id,
        AWS_REGION: "eu-west-1",
        AWS_ENDPOINT_URL_EC2: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: "AKIAEXAMPLEFAKE",
        AWS_SECRET_ACCESS_KEY: "fake",
        AWS_MAX_ATTEMPTS: "1",
      };
      execFile(
        "/bin/sh",
        ["-c", nodeScriptCommand("cancel-spot-request")],
        { cwd: elsewhere, env, encoding: "utf8", timeout: 60_000 },
        (err, stdout, stderr) => {
          server.close();
          resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr, requests });
        },
      );
    });
  });
}

describe("cancel-spot-request, run by the AWS step's own command from a folder outside the repository", {
  concurrency: true,
}, () => {
  before(() => {
    elsewhere = mkdtempSync(path.join(os.tmpdir(), "qs-spot-cwd-"));
  });
  after(() => rmSync(elsewhere, { recursive: true, force: true }));

  it("sends one CancelSpotInstanceRequests for the stack's request id and exits 0", async () => {
    const r = await run("sir-0abc", { status: 200, body: OK("sir-0abc") });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.requests, [
      "Action=CancelSpotInstanceRequests&Version=2016-11-15&SpotInstanceRequestId.1=sir-0abc",
    ]);
    assert.equal(r.stdout, "spot request sir-0abc: cancelled\n");
  });

  it("a request EC2 no longer knows counts as cancelled: exit 0", async () => {
    const r = await run("sir-0gone", { status: 400, body: ERROR("InvalidSpotInstanceRequestID.NotFound") });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.requests.length, 1);
  });

  it("any other failure exits 1 (so the destroy stops before terminating) and says how to cancel by hand", async () => {
    const r = await run("sir-0abc", { status: 400, body: ERROR("UnauthorizedOperation") });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /could not cancel spot request sir-0abc in eu-west-1: .*UnauthorizedOperation/);
    assert.match(r.stderr, /aws ec2 cancel-spot-instance-requests --spot-instance-request-ids sir-0abc/);
  });

  it("an on-demand instance (empty request id) sends nothing and exits 0", async () => {
    const r = await run("", { status: 500, body: "" });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.requests, []);
  });
});
