/**
 * The idle watchdog (components/machine/idle.py) on a fleet replica: the real script after a real
 * install in the bootstrap sandbox (vLLM, fake engine), with a fake instance metadata service and a
 * fake AWS Query endpoint on loopback. The fake endpoint checks each request's SigV4 signature the
 * way AWS does (recomputed from the signed headers and the role's secret) and answers 403 otherwise.
 * It shows the queue metric published from the engine's /metrics each check, scale-in protection
 * set while serving and cleared when idle (one call per change), and no poweroff ever, past the
 * idle window and the TTL. Also: the signer against AWS's published SigV4 test suite.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { METRIC_NAMESPACE, QUEUE_METRIC, READY_URL_PATH } from "../components/fleet/settings";
import { request, Sandbox, SANDBOX_API_KEY } from "./helpers/sandbox";
import { COMPLETION, IDLE_PY, idleRecord, lastLogLine, logAt, MIN, sandboxEnv } from "./helpers/watchdog";

/** The instance role's temporary credentials as the fake IMDS hands them out. */
const CREDS = {
  Code: "Success",
  Type: "AWS-HMAC",
  AccessKeyId: "ASIAFLEETFAKE0000001",
  SecretAccessKey: "fleetFakeSecret/K7MDENG+bPxRfiCYEXAMPLEKEY",
  Token: "fleetFakeSessionToken0123456789",
  Expiration: "2099-01-01T00:00:00Z",
};
const ROLE = "qwen3-serve-replica";
const INSTANCE = "i-0fleet0000000001";
const ASG = "qwen3-serve-team-prod-fleet";

const hex = (data: string): string => createHash("sha256").update(data, "utf8").digest("hex");
const hmac = (key: Buffer | string, data: string): Buffer => createHmac("sha256", key).update(data, "utf8").digest();

/** What AWS checks of a SigV4 request: the signature over the headers it names, under the caller's secret; null when it holds. */
function sigv4Problem(req: http.IncomingMessage, body: string): string | null {
  const m =
    /^AWS4-HMAC-SHA256 Credential=(\w+)\/(\d{8})\/([a-z0-9-]+)\/([a-z]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      req.headers.authorization ?? "",
    );
  if (m === null) return "IncompleteSignature";
  const [, akid, day, region, service, signed, signature] = m as unknown as string[];
  const names = (signed ?? "").split(";");
  if (akid !== CREDS.AccessKeyId) return "InvalidClientTokenId";
  if (!["content-type", "host", "x-amz-date", "x-amz-security-token"].every((n) => names.includes(n)))
    return "IncompleteSignature";
  if (req.headers["x-amz-security-token"] !== CREDS.Token) return "InvalidClientTokenId";
  const canonical = [
    req.method,
    req.url,
    "",
    names.map((n) => `${n}:${String(req.headers[n]).trim()}\n`).join(""),
    signed,
    hex(body),
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", String(req.headers["x-amz-date"]), scope, hex(canonical)].join("\n");
  let key: Buffer = Buffer.from(`AWS4${CREDS.SecretAccessKey}`);
  for (const part of [day ?? "", region ?? "", service ?? "", "aws4_request"]) key = hmac(key, part);
  return hmac(key, toSign).toString("hex") === signature ? null : "SignatureDoesNotMatch";
}

/** One call the fake AWS endpoint accepted: the signing service and the form parameters. */
interface AwsCall {
  service: string;
  params: Record<string, string>;
}

describe("the AWS SigV4 signer in idle.py against AWS's published test suite", () => {
  it("reproduces get-vanilla, post-vanilla, get-vanilla-query-order-key-case and get-vanilla-with-session-token exactly", () => {
    // AWS's SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html), as
    // kept in awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<case>/header-signed-request.txt,
    // read 2026-11-30: credentials AKIDEXAMPLE, us-east-1, service "service", 20150830T123600Z.
    const script = [
      "import json, sys",
      `sys.path.insert(0, ${JSON.stringify(path.dirname(IDLE_PY))})`,
      "import idle",
      "c = {'AccessKeyId': 'AKIDEXAMPLE', 'SecretAccessKey': 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'}",
      "t = dict(c, Token='6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267')",
      "u = 'https://example.amazonaws.com/'",
      "cases = [('GET', u, c), ('POST', u, c), ('GET', u + '?Param2=value2&Param1=value1', c), ('GET', u, t)]",
      "s = lambda m, url, k: idle.sigv4(m, url, {}, b'', 'us-east-1', 'service', k, '20150830T123600Z')",
      "print(json.dumps([s(*x)['authorization'] for x in cases]))",
    ].join("\n");
    const r = spawnSync("python3", ["-B", "-c", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const cred = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";
    assert.deepEqual(JSON.parse(r.stdout), [
      `${cred}SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31`,
      `${cred}SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b`,
      `${cred}SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500`,
      `${cred}SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8`,
    ]);
  });
});

describe("the watchdog on a sandboxed fleet replica (vLLM): queue metric, scale-in protection, never a poweroff", () => {
  let sb: Sandbox;
  let imds: http.Server;
  let aws: http.Server;
  let template = "";
  let t0 = 0;
  const calls: AwsCall[] = [];
  const refused: string[] = [];
  /** Answer the next SetInstanceProtection calls with a throttling error, as AWS may. */
  let throttle = 0;

  const listen = async (srv: http.Server): Promise<string> => {
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  };

  before(async () => {
    sb = await Sandbox.create({
      request: { model: "qwen3:8b", engine: "vllm" },
      idle: { minutes: 10, ttlHours: 2, countSsh: false, action: "poweroff" },
      fleet: {
        region: "us-east-1",
        autoScalingGroupName: ASG,
        metricNamespace: METRIC_NAMESPACE,
        queueMetric: QUEUE_METRIC,
        publishQueueMetric: true,
        readyPath: READY_URL_PATH,
      },
    });
    const r = await sb.install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const ok = await request(`http://127.0.0.1:${sb.proxyPort}/v1/chat/completions`, {
      method: "POST",
      body: COMPLETION,
      headers: { Authorization: `Bearer ${SANDBOX_API_KEY}`, "Content-Type": "application/json" },
    });
    assert.equal(ok.status, 200);
    template = await lastLogLine(sb, /^\S+ 200 POST \/v1\/chat\/completions /);
    t0 = Math.floor(Date.parse(template.split(" ")[0] ?? "") / 1000);

    imds = http.createServer((req, res) => {
      const token = "imds-fleet-token";
      const answer = (code: number, body: string): void => {
        res.statusCode = code;
        res.end(body);
      };
      if (req.method === "PUT" && req.url === "/latest/api/token") return answer(200, token);
      if (req.headers["x-aws-ec2-metadata-token"] !== token) return answer(401, "");
      const meta: Record<string, string> = {
        "/latest/meta-data/instance-id": INSTANCE,
        "/latest/meta-data/iam/security-credentials/": ROLE,
        [`/latest/meta-data/iam/security-credentials/${ROLE}`]: JSON.stringify(CREDS),
      };
      const v = meta[req.url ?? ""];
      return v === undefined ? answer(404, "") : answer(200, v);
    });
    aws = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const params = Object.fromEntries(new URLSearchParams(body));
        const problem = sigv4Problem(req, body);
        const service = /\/\d{8}\/[a-z0-9-]+\/([a-z]+)\//.exec(req.headers.authorization ?? "")?.[1] ?? "";
        res.setHeader("content-type", "text/xml");
        if (problem !== null) {
          refused.push(problem);
          res.statusCode = 403;
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>${problem}</Code><Message>no</Message></Error></ErrorResponse>`,
          );
          return;
        }
        if (params.Action === "SetInstanceProtection" && throttle > 0) {
          throttle--;
          res.statusCode = 400;
          res.end(
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
          );
          return;
        }
        calls.push({ service, params });
        res.end(
          `<${params.Action}Response><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></${params.Action}Response>`,
        );
      });
    });
    const imdsUrl = await listen(imds);
    const awsUrl = await listen(aws);
    sb.setEnv({ IMDS_URL: imdsUrl, FLEET_AWS_ENDPOINT: awsUrl });
  });
  after(() => {
    imds?.close();
    aws?.close();
    sb?.destroy();
  });

  /** One check as the timer runs it (idle.sh), asynchronously: the fakes answer from this process. */
  const fleetCheck = (now: number): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      execFile(
        "bash",
        [sb.p("usr/local/lib/qwen3-serve/idle.sh")],
        {
          env: { ...sandboxEnv(sb), QS_NOW: String(now), QS_BOOT_ID: "fleet-boot", QS_BOOT_AT: String(t0 - 3600) },
          encoding: "utf8",
          timeout: 30_000,
        },
        (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, out: `${stdout}${stderr}` }),
      );
    });
  const engineQueue = (running: number, waiting: number): void =>
    writeFileSync(path.join(sb.state, "metrics.json"), JSON.stringify({ running, waiting, tokens: 0 }));
  const take = (): AwsCall[] => calls.splice(0);
  const metric = (value: string): AwsCall => ({
    service: "monitoring",
    params: {
      Action: "PutMetricData",
      Version: "2010-08-01",
      Namespace: "qwen3-serve",
      "MetricData.member.1.MetricName": "QueueDepth",
      "MetricData.member.1.Value": value,
      "MetricData.member.1.Unit": "Count",
      "MetricData.member.1.Dimensions.member.1.Name": "AutoScalingGroupName",
      "MetricData.member.1.Dimensions.member.1.Value": ASG,
    },
  });
  const protect = (on: boolean): AwsCall => ({
    service: "autoscaling",
    params: {
      Action: "SetInstanceProtection",
      Version: "2011-01-01",
      AutoScalingGroupName: ASG,
      ProtectedFromScaleIn: String(on),
      "InstanceIds.member.1": INSTANCE,
    },
  });

  it("the env file names the group, region, namespace, metric and readiness path", () => {
    const env = sb.files.find((f) => f.path.endsWith("/bootstrap.env"))?.content ?? "";
    assert.match(
      env,
      new RegExp(
        `^FLEET_ASG_NAME='${ASG}'\nFLEET_REGION='us-east-1'\nFLEET_METRIC_NAMESPACE='qwen3-serve'\n` +
          "FLEET_QUEUE_METRIC='QueueDepth'\nFLEET_PUBLISH_QUEUE='1'\nFLEET_READY_PATH='/qwen3-serve/ready'\n$",
        "m",
      ),
    );
  });

  it(
    "publishes running + waiting (summed over the engine's label sets) every check, signed; protection on " +
      "while the engine works, one call per change; off when idle; a log line in the last minute turns it on again",
    async () => {
      engineQueue(3, 2);
      const busy = await fleetCheck(t0 + MIN);
      assert.equal(busy.code, 0, busy.out);
      assert.deepEqual(take(), [metric("5"), protect(true)]);
      assert.match(busy.out, /fleet: scale-in protection on: serving/);
      engineQueue(1, 0);
      await fleetCheck(t0 + 2 * MIN);
      assert.deepEqual(take(), [metric("1")], "still serving: no protection call");
      engineQueue(0, 0);
      const idle = await fleetCheck(t0 + 3 * MIN);
      assert.deepEqual(take(), [metric("0"), protect(false)]);
      assert.match(idle.out, /fleet: scale-in protection off: idle/);
      await fleetCheck(t0 + 4 * MIN);
      assert.deepEqual(take(), [metric("0")], "still idle: no protection call");
      logAt(sb, template, t0 + 5 * MIN - 20);
      await fleetCheck(t0 + 5 * MIN);
      assert.deepEqual(take(), [metric("0"), protect(true)], "an inference request in the last minute is serving");
      await fleetCheck(t0 + 6 * MIN);
      assert.deepEqual(take(), [metric("0"), protect(false)]);
      assert.deepEqual(refused, [], "every request carried a valid signature");
    },
  );

  it("a refused protection call is retried at the next check, not recorded as done", async () => {
    engineQueue(2, 0);
    throttle = 1;
    const failed = await fleetCheck(t0 + 7 * MIN);
    assert.deepEqual(take(), [metric("2")]);
    assert.match(
      failed.out,
      /WARNING: fleet: SetInstanceProtection failed \(SetInstanceProtection: HTTP 400 Throttling\)/,
    );
    await fleetCheck(t0 + 8 * MIN);
    assert.deepEqual(take(), [metric("2"), protect(true)]);
    engineQueue(0, 0);
    await fleetCheck(t0 + 9 * MIN);
    assert.deepEqual(take(), [metric("0"), protect(false)]);
  });

  it("never powers off or stops the engine, past the idle window and the TTL; says what it would have done", async () => {
    // Idle since the engine's last work (minute 8), then busy again past the 2-hour TTL.
    const idle = await fleetCheck(t0 + 25 * MIN);
    engineQueue(1, 0);
    const ttl = await fleetCheck(t0 + 180 * MIN);
    for (const c of [idle, ttl]) assert.equal(c.code, 0, c.out);
    assert.equal(sb.count("poweroff"), 0);
    assert.ok(!sb.calls().some((c) => c.cmd === "systemctl" && c.args[0] === "stop"), "the engine unit kept running");
    assert.match(
      idle.out,
      /fleet replica: not stopping \(poweroff\): no inference request for 17 min \(idle window 10 min\)/,
    );
    assert.match(ttl.out, /fleet replica: not stopping \(poweroff\): up 4 h 0 min, past its TTL of 2 h/);
    assert.doesNotMatch(idle.out + ttl.out, /stopping in \d+ min unless/, "no countdown to a stop that never comes");
    const rec = idleRecord(sb);
    assert.deepEqual([rec.action, rec.stopAt], ["none", null]);
    assert.equal(rec.reason, "fleet replica: the group scales in (up 4 h 0 min, past its TTL of 2 h)");
    assert.deepEqual(take(), [metric("0"), metric("1"), protect(true)]);
  });

  it("never writes the role's credentials, the session token or a signature to its output", async () => {
    engineQueue(4, 4);
    const c = await fleetCheck(t0 + 200 * MIN);
    assert.deepEqual(take(), [metric("8")], "still serving since the last check");
    for (const secret of [CREDS.SecretAccessKey, CREDS.Token, CREDS.AccessKeyId, "Signature="])
      assert.ok(!c.out.includes(secret), `output holds ${secret}`);
    engineQueue(0, 0);
    rmSync(path.join(sb.state, "metrics.json"));
  });
});
