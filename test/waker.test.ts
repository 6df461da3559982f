/**
 * The fleet's waker (components/fleet/waker.py), run for real with python3 through a small harness
 * (test/fixtures/waker_harness.py) that injects fake Auto Scaling, ELBv2 and SSM clients answering with the
 * real APIs' shapes and errors, and feeds it AWS's documented event shapes: a load balancer request
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html, read 2026-11-30)
 * and an SNS notification carrying a CloudWatch alarm (aws/aws-lambda-go
 * events/testdata/cloudwatch-alarm-sns-payload-single-metric.json, read 2026-11-30). One python process runs
 * every case; each case imports waker.py afresh, as a new Lambda container would.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { before, describe, it } from "node:test";

const WAKER = path.join(__dirname, "..", "components", "fleet", "waker.py");
const HARNESS = path.join(__dirname, "fixtures", "waker_harness.py");

const KEY = "k1WakerTestKey0123456789abcdefABCDEFghijklmnop";
const ENV = {
  GROUP_NAME: "qwen3-serve-team-prod-fleet",
  RULE_ARN:
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/fleet-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
  REPLICAS_TG_ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fleet-tg/73e2d6bc24d8a067",
  WAKER_TG_ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fleet-waker-tg/6d0ecf831eec9f09",
  API_KEY_PARAMETER: "/qwen3-serve/team/prod/api-key",
  RETRY_AFTER_SECONDS: "30",
  // 11.5 minutes: the explanation rounds up to 12.
  READY_ESTIMATE_SECONDS: "690",
};

/** AWS's example load balancer event, with the request's Authorization header when given. */
function albEvent(authorization?: string, multiValue = false): Record<string, unknown> {
  const headers: Record<string, string> = {
    accept: "application/json",
    "content-type": "application/json",
    host: "fleet-alb-846800462.us-east-1.elb.amazonaws.com",
    "user-agent": "openai-python/1.0",
    "x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
    "x-forwarded-for": "72.21.198.66",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
    ...(authorization === undefined ? {} : { authorization }),
  };
  const common = {
    requestContext: { elb: { targetGroupArn: ENV.WAKER_TG_ARN } },
    httpMethod: "POST",
    path: "/v1/chat/completions",
    isBase64Encoded: false,
    body: '{"model":"Qwen/Qwen3-30B-A3B-FP8","messages":[{"role":"user","content":"hi"}]}',
  };
  return multiValue
    ? {
        ...common,
        multiValueQueryStringParameters: {},
        multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      }
    : { ...common, queryStringParameters: {}, headers };
}

/** SNS delivering the idle alarm's state change, shaped like AWS's example. */
function snsEvent(newState: string): Record<string, unknown> {
  const alarm = {
    AlarmName: "fleet-idle-1a2b3c4",
    AlarmDescription: "No request at the load balancer for 30 minutes: the fleet goes to zero replicas.",
    AWSAccountId: "123456789012",
    NewStateValue: newState,
    NewStateReason: "Threshold Crossed: 30 out of the last 30 datapoints were less than the threshold (1.0).",
    StateChangeTime: "2026-11-30T02:00:00.000+0000",
    Region: "US East (N. Virginia)",
    AlarmArn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:fleet-idle-1a2b3c4",
    OldStateValue: "OK",
  };
  return {
    Records: [
      {
        EventSource: "aws:sns",
        EventVersion: "1.0",
        EventSubscriptionArn:
          "arn:aws:sns:us-east-1:123456789012:fleet-idle-topic:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        Sns: {
          Type: "Notification",
          MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
          TopicArn: "arn:aws:sns:us-east-1:123456789012:fleet-idle-topic",
          Subject: `${newState}: "fleet-idle-1a2b3c4" in US East (N. Virginia)`,
          Message: JSON.stringify(alarm),
          Timestamp: "2026-11-30T02:00:00.123Z",
          SignatureVersion: "1",
          Signature: "EXAMPLE",
          SigningCertUrl: "EXAMPLE",
          UnsubscribeUrl: "EXAMPLE",
          MessageAttributes: {},
        },
      },
    ],
  };
}

interface Step {
  readonly event: Record<string, unknown>;
  readonly advance?: number;
  readonly rotate_key?: string;
}
interface Case {
  readonly name: string;
  readonly desired?: number;
  readonly targets?: readonly string[];
  readonly fail?: Record<string, { code: string; message: string }>;
  readonly steps: readonly Step[];
}
interface Answer {
  readonly statusCode: number;
  readonly statusDescription: string;
  readonly isBase64Encoded: boolean;
  readonly headers?: Record<string, string>;
  readonly multiValueHeaders?: Record<string, string[]>;
  readonly body: string;
  readonly raised?: string;
}
interface Result {
  readonly name: string;
  readonly answers: readonly (Answer | null)[];
  readonly calls: readonly [string, string, Record<string, unknown>][];
  readonly log: string;
  readonly rule_target: string;
  readonly desired: number;
}

const bearer = `Bearer ${KEY}`;
// An AWS error message that quotes the key, to show only the error's code reaches the log.
const leaky = (code: string) => ({ code, message: `simulated failure mentioning ${bearer}` });

const CASES: readonly Case[] = [
  {
    name: "no-key",
    steps: [{ event: albEvent() }, { event: albEvent(`Basic ${KEY}`) }, { event: albEvent("Bearer ") }],
  },
  { name: "wrong-key", steps: [{ event: albEvent("Bearer not-the-key-0123456789") }] },
  { name: "wake", desired: 0, steps: [{ event: albEvent(bearer) }] },
  { name: "waking", desired: 1, targets: ["initial"], steps: [{ event: albEvent(`bearer ${KEY}`) }] },
  { name: "ready", desired: 1, targets: ["unhealthy", "healthy"], steps: [{ event: albEvent(bearer) }] },
  { name: "leaving", desired: 0, targets: ["healthy"], steps: [{ event: albEvent(bearer) }] },
  { name: "idle", steps: [{ event: snsEvent("ALARM") }] },
  { name: "idle-ok", steps: [{ event: snsEvent("OK") }] },
  {
    name: "idle-fails",
    fail: { "elbv2.modify_rule": leaky("Throttling") },
    steps: [{ event: snsEvent("ALARM") }],
  },
  {
    name: "describe-fails",
    desired: 0,
    fail: { "autoscaling.describe_auto_scaling_groups": leaky("Throttling") },
    steps: [{ event: albEvent(bearer) }],
  },
  {
    name: "ssm-fails",
    desired: 0,
    fail: { "ssm.get_parameter": leaky("AccessDeniedException") },
    steps: [{ event: albEvent(bearer) }],
  },
  {
    name: "twice",
    desired: 0,
    targets: [],
    steps: [{ event: albEvent(bearer) }, { event: albEvent(bearer), advance: 3600 }],
  },
  {
    name: "rotated",
    desired: 1,
    targets: ["initial"],
    steps: [
      { event: albEvent(bearer) },
      { event: albEvent("Bearer rotatedKey0123456789"), rotate_key: "rotatedKey0123456789", advance: 10 },
      { event: albEvent("Bearer rotatedKey0123456789"), advance: 300 },
    ],
  },
  { name: "multi-value", desired: 0, steps: [{ event: albEvent(bearer, true) }] },
];

let results: Map<string, Result>;

before(() => {
  const input = JSON.stringify({ waker: WAKER, cases: CASES.map((c) => ({ ...c, env: ENV, key: KEY })) });
  const run = spawnSync("python3", [HARNESS], { input, encoding: "utf8", timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  results = new Map((JSON.parse(run.stdout) as Result[]).map((r) => [r.name, r]));
});

const result = (name: string): Result => {
  const r = results.get(name);
  assert.ok(r, `no result for ${name}`);
  return r;
};
const answer = (name: string, i = 0): Answer => {
  const a = result(name).answers[i];
  assert.ok(a, `${name}: no answer ${i}`);
  return a;
};
const ops = (name: string): string[] => result(name).calls.map(([service, op]) => `${service}.${op}`);
const errorOf = (a: Answer): Record<string, unknown> =>
  (JSON.parse(a.body) as { error: Record<string, unknown> }).error;

const UNAUTHORIZED = {
  statusCode: 401,
  statusDescription: "401 Unauthorized",
  isBase64Encoded: false,
  headers: { "Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="qwen3-serve"' },
  body: '{"error":{"message":"missing or wrong API key","type":"authentication_error"}}\n',
};

describe("waker: the key", () => {
  it("answers 401 with the proxy's body and WWW-Authenticate to no key, a Basic key and an empty Bearer, calling no AWS API", () => {
    assert.deepEqual(result("no-key").answers, [UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED]);
    assert.deepEqual(result("no-key").calls, []);
  });

  it("answers 401 to a wrong key after reading the key from SSM with decryption, and wakes nothing", () => {
    assert.deepEqual(answer("wrong-key"), UNAUTHORIZED);
    assert.deepEqual(result("wrong-key").calls, [
      ["ssm", "get_parameter", { Name: ENV.API_KEY_PARAMETER, WithDecryption: true }],
    ]);
    assert.equal(result("wrong-key").desired, 0);
  });

  it("reads the key from SSM once per container: two keyed requests an hour apart make one get_parameter call", () => {
    assert.deepEqual(
      ops("twice").filter((o) => o.startsWith("ssm.")),
      ["ssm.get_parameter"],
    );
    assert.deepEqual(
      result("twice").answers.map((a) => a?.statusCode),
      [503, 503],
    );
  });

  it("accepts a rotated key only once the cached key is 300 s old: 401 at 10 s without an SSM call, 503 at 310 s after one", () => {
    const r = result("rotated");
    assert.deepEqual(
      r.answers.map((a) => a?.statusCode),
      [503, 401, 503],
    );
    assert.deepEqual(
      ops("rotated").filter((o) => o.startsWith("ssm.")),
      ["ssm.get_parameter", "ssm.get_parameter"],
    );
  });
});

describe("waker: waking", () => {
  it("at desired 0 sets desired capacity to exactly 1 without honoring cooldown, and answers the pinned 503", () => {
    assert.deepEqual(result("wake").calls, [
      ["ssm", "get_parameter", { Name: ENV.API_KEY_PARAMETER, WithDecryption: true }],
      ["autoscaling", "describe_auto_scaling_groups", { AutoScalingGroupNames: [ENV.GROUP_NAME] }],
      [
        "autoscaling",
        "set_desired_capacity",
        { AutoScalingGroupName: ENV.GROUP_NAME, DesiredCapacity: 1, HonorCooldown: false },
      ],
    ]);
    assert.equal(result("wake").desired, 1);
    assert.deepEqual(answer("wake"), {
      isBase64Encoded: false,
      statusCode: 503,
      statusDescription: "503 Service Unavailable",
      headers: { "Content-Type": "application/json", "Retry-After": "30", "Cache-Control": "no-store" },
      body:
        '{"error": {"message": "The fleet had no replica running; one is starting now. A new replica is typically ready ' +
        'in about 12 minutes. Retry after 30 seconds (the Retry-After header).", "type": "fleet_waking", ' +
        '"retry_after_seconds": 30, "ready_estimate_seconds": 690}}\n',
    });
  });

  it("while already waking (desired 1, no healthy target) sets no capacity, keeps the rule, and answers 503 Retry-After 30", () => {
    assert.deepEqual(ops("waking"), [
      "ssm.get_parameter",
      "autoscaling.describe_auto_scaling_groups",
      "elbv2.describe_target_health",
    ]);
    assert.equal(result("waking").calls[2]?.[2].TargetGroupArn, ENV.REPLICAS_TG_ARN);
    assert.equal(result("waking").desired, 1);
    assert.equal(result("waking").rule_target, ENV.WAKER_TG_ARN);
    const a = answer("waking");
    assert.equal(a.statusCode, 503);
    assert.equal(a.headers?.["Retry-After"], "30");
    assert.equal(
      errorOf(a).message,
      "The fleet had no replica running; one is already starting. A new replica is typically ready in about 12 minutes. " +
        "Retry after 30 seconds (the Retry-After header).",
    );
  });

  it("with a healthy replica switches the rule back to the replicas' target group and answers 503 Retry-After 1", () => {
    const r = result("ready");
    assert.deepEqual(r.calls.at(-1), [
      "elbv2",
      "modify_rule",
      { RuleArn: ENV.RULE_ARN, Actions: [{ Type: "forward", TargetGroupArn: ENV.REPLICAS_TG_ARN }] },
    ]);
    assert.equal(r.rule_target, ENV.REPLICAS_TG_ARN);
    assert.equal(ops("ready").includes("autoscaling.set_desired_capacity"), false);
    const a = answer("ready");
    assert.equal(a.statusCode, 503);
    assert.equal(a.headers?.["Retry-After"], "1");
    assert.deepEqual(errorOf(a), {
      message: "A replica is ready; retry now.",
      type: "fleet_ready",
      retry_after_seconds: 1,
    });
  });

  it("at desired 0 with a replica still healthy (it is leaving) wakes one and leaves the rule on the waker", () => {
    assert.deepEqual(ops("leaving"), [
      "ssm.get_parameter",
      "autoscaling.describe_auto_scaling_groups",
      "autoscaling.set_desired_capacity",
    ]);
    assert.equal(result("leaving").rule_target, ENV.WAKER_TG_ARN);
    assert.equal(answer("leaving").headers?.["Retry-After"], "30");
  });

  it("answers in multiValueHeaders when the event came with multi-value headers", () => {
    const a = answer("multi-value");
    assert.equal(a.headers, undefined);
    assert.deepEqual(a.multiValueHeaders, {
      "Content-Type": ["application/json"],
      "Retry-After": ["30"],
      "Cache-Control": ["no-store"],
    });
    assert.equal(result("multi-value").desired, 1);
  });
});

describe("waker: the idle alarm", () => {
  it("on the alarm's ALARM notification switches the forward rule to the waker's target group", () => {
    assert.deepEqual(result("idle").calls, [
      [
        "elbv2",
        "modify_rule",
        { RuleArn: ENV.RULE_ARN, Actions: [{ Type: "forward", TargetGroupArn: ENV.WAKER_TG_ARN }] },
      ],
    ]);
    assert.deepEqual(result("idle").answers, [null]);
  });

  it("ignores a notification of any other alarm state: no AWS call", () => {
    assert.deepEqual(result("idle-ok").calls, []);
  });

  it("raises (so Lambda retries the SNS delivery) with the error code only when the switch fails", () => {
    assert.deepEqual(result("idle-fails").answers, [
      { raised: "RuntimeError: switching the forward rule to the waker failed: Throttling" },
    ]);
  });
});

describe("waker: AWS errors", () => {
  it("answers 503 with Retry-After 30 and wakes nothing when reading the group fails", () => {
    const a = answer("describe-fails");
    assert.equal(a.statusCode, 503);
    assert.equal(a.headers?.["Retry-After"], "30");
    assert.equal(errorOf(a).type, "service_unavailable");
    assert.equal(result("describe-fails").desired, 0);
    assert.match(result("describe-fails").log, /"error": "Throttling"/);
  });

  it("answers 503 with Retry-After 30 and calls nothing else when the key cannot be read", () => {
    assert.equal(answer("ssm-fails").statusCode, 503);
    assert.equal(answer("ssm-fails").headers?.["Retry-After"], "30");
    assert.deepEqual(ops("ssm-fails"), ["ssm.get_parameter"]);
    assert.match(result("ssm-fails").log, /"error": "AccessDeniedException"/);
  });

  it("never logs or raises the key, the Authorization header or an AWS error's message, in any case", () => {
    for (const r of results.values()) {
      const said = r.log + JSON.stringify(r.answers.filter((a) => a?.raised !== undefined));
      assert.equal(said.includes(KEY), false, r.name);
      assert.equal(said.includes("rotatedKey"), false, r.name);
      assert.equal(/bearer/i.test(said), false, r.name);
      assert.equal(said.includes("simulated failure"), false, r.name);
    }
  });
});
