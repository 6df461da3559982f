/**
 * The fleet's scaling pieces under Pulumi mocks: the exact inputs of the target-tracking policy per engine, the
 * idle and wake alarms and their step policies (present only for minReplicas 0), and the replicas' extra IAM
 * statements. A local mock (its own process under node:test) records every custom resource, gives policies an
 * ARN as AWS does, and throws on any invoke or resource type this module should not create.
 *
 * What this proves: the inputs we send to AWS. It does not prove how Auto Scaling and CloudWatch act on them.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import type { FleetSettings } from "../components/fleet/settings";
import {
  autoScalingGroupArnFor,
  declareScaling,
  type FleetScaling,
  fleetInstanceStatements,
  idleWindow,
  ollamaRequestsPerMinuteTarget,
  type ScalingArgs,
} from "../components/targets/fleetScaling";

interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

const recorded: Recorded[] = [];
const POLICY = "aws:autoscaling/policy:Policy";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const GROUP = "qwen3-serve-qwen3-serve-team-fleet";
const LB = "app/fleet-alb/50dc6c495c0c9188";
const TG = "targetgroup/fleet-tg/73e2d6bc24d8a067";
const WARMUP = 1502;
const TAGS = { "qwen3-serve:stack": "team" };

/** The ARN AWS gives a scaling policy (PutScalingPolicy's PolicyARN form), with a fixed id. */
const policyArn = (name: string): string =>
  `arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0f1e2d3c:autoScalingGroupName/${GROUP}:policyName/${name}`;

before(() =>
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        // A component (the test's stand-in Fleet) registers too; only custom resources are AWS's.
        if (args.custom === false) return { id: "", state: {} };
        if (args.type !== POLICY && args.type !== ALARM) throw new Error(`mock: unexpected resource type ${args.type}`);
        const inputs = args.inputs as Record<string, unknown>;
        recorded.push({ type: args.type, name: args.name, inputs });
        return {
          id: `${args.name}-id`,
          state: args.type === POLICY ? { ...inputs, arn: policyArn(args.name) } : inputs,
        };
      },
      call(args) {
        throw new Error(`mock: unhandled invoke ${args.token}`);
      },
    },
    "qwen3-serve",
    "team",
    false,
  ),
);

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

/** Declare, wait until every resource has registered, and return what the mock recorded. */
async function declare(over: Partial<ScalingArgs> & { fleet: FleetSettings }): Promise<Recorded[]> {
  recorded.length = 0;
  const scaling: FleetScaling = declareScaling({
    name: "fleet",
    opts: {},
    tags: TAGS,
    group: { name: GROUP },
    loadBalancerArnSuffix: LB,
    targetGroupArnSuffix: TG,
    engine: "vllm",
    idleMinutes: 30,
    warmupSeconds: WARMUP,
    ...over,
  });
  const all = [scaling.tracking, scaling.idle?.policy, scaling.idle?.alarm, scaling.wake?.policy, scaling.wake?.alarm];
  await Promise.all(all.filter((r) => r !== undefined).map((r) => value(r.urn)));
  return [...recorded];
}

const named = (rs: readonly Recorded[], name: string): Recorded => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no resource named ${name} among ${rs.map((x) => x.name).join(", ")}`);
  return r;
};
const kinds = (rs: readonly Recorded[]): string[] => rs.map((r) => `${r.type} ${r.name}`).sort();

const ONE_UP: FleetSettings = { minReplicas: 1, maxReplicas: 4, targetQueuePerReplica: 4 };
const TO_ZERO: FleetSettings = { minReplicas: 0, maxReplicas: 4, targetQueuePerReplica: 4 };

describe("target tracking", () => {
  it("vLLM, minReplicas 1: tracks Average of qwen3-serve/QueueDepth by AutoScalingGroupName at targetQueuePerReplica 4, warm-up 1502 s", async () => {
    const rs = await declare({ fleet: ONE_UP });
    assert.deepEqual(named(rs, "fleet-scale").inputs, {
      autoscalingGroupName: GROUP,
      policyType: "TargetTrackingScaling",
      estimatedInstanceWarmup: WARMUP,
      targetTrackingConfiguration: {
        targetValue: 4,
        customizedMetricSpecification: {
          namespace: "qwen3-serve",
          metricName: "QueueDepth",
          metricDimensions: [{ name: "AutoScalingGroupName", value: GROUP }],
          statistic: "Average",
        },
      },
    });
  });

  it("SGLang, minReplicas 1: tracks the same queue metric, at its own targetQueuePerReplica 2.5", async () => {
    const rs = await declare({ engine: "sglang", fleet: { ...ONE_UP, targetQueuePerReplica: 2.5 } });
    const config = named(rs, "fleet-scale").inputs.targetTrackingConfiguration as Record<string, unknown>;
    assert.equal(config.targetValue, 2.5);
    assert.deepEqual(config.customizedMetricSpecification, {
      namespace: "qwen3-serve",
      metricName: "QueueDepth",
      metricDimensions: [{ name: "AutoScalingGroupName", value: GROUP }],
      statistic: "Average",
    });
  });

  it("Ollama, minReplicas 1: tracks ALBRequestCountPerTarget labelled <lb>/<tg> suffixes, 8 requests/target/minute for 4 in flight", async () => {
    const rs = await declare({ engine: "ollama", fleet: ONE_UP });
    assert.deepEqual(named(rs, "fleet-scale").inputs, {
      autoscalingGroupName: GROUP,
      policyType: "TargetTrackingScaling",
      estimatedInstanceWarmup: WARMUP,
      targetTrackingConfiguration: {
        targetValue: 8,
        predefinedMetricSpecification: {
          predefinedMetricType: "ALBRequestCountPerTarget",
          resourceLabel: "app/fleet-alb/50dc6c495c0c9188/targetgroup/fleet-tg/73e2d6bc24d8a067",
        },
      },
    });
  });

  it("Ollama's target is 2 requests per minute per request in flight (30 s assumed per request)", () => {
    assert.equal(ollamaRequestsPerMinuteTarget(4), 8);
    assert.equal(ollamaRequestsPerMinuteTarget(1), 2);
    assert.equal(ollamaRequestsPerMinuteTarget(0.5), 1);
  });

  it("vLLM, minReplicas 0: tracks the queue metric with its zero minutes dropped, IF(load > 0, load)", async () => {
    const rs = await declare({ fleet: TO_ZERO });
    const config = named(rs, "fleet-scale").inputs.targetTrackingConfiguration as Record<string, unknown>;
    assert.deepEqual(config, {
      targetValue: 4,
      customizedMetricSpecification: {
        metrics: [
          {
            id: "load",
            metricStat: {
              metric: {
                namespace: "qwen3-serve",
                metricName: "QueueDepth",
                dimensions: [{ name: "AutoScalingGroupName", value: GROUP }],
              },
              stat: "Average",
            },
            returnData: false,
          },
          { id: "busy", label: "QueueDepth in minutes above zero", expression: "IF(load > 0, load)", returnData: true },
        ],
      },
    });
  });

  it("Ollama, minReplicas 0: tracks ApplicationELB RequestCountPerTarget (Sum, LoadBalancer, TargetGroup), zero minutes dropped, target 8", async () => {
    const rs = await declare({ engine: "ollama", fleet: TO_ZERO });
    const config = named(rs, "fleet-scale").inputs.targetTrackingConfiguration as Record<string, unknown>;
    assert.deepEqual(config, {
      targetValue: 8,
      customizedMetricSpecification: {
        metrics: [
          {
            id: "load",
            metricStat: {
              metric: {
                namespace: "AWS/ApplicationELB",
                metricName: "RequestCountPerTarget",
                dimensions: [
                  { name: "LoadBalancer", value: LB },
                  { name: "TargetGroup", value: TG },
                ],
              },
              stat: "Sum",
            },
            returnData: false,
          },
          {
            id: "busy",
            label: "RequestCountPerTarget in minutes above zero",
            expression: "IF(load > 0, load)",
            returnData: true,
          },
        ],
      },
    });
  });
});

describe("zero: idle and wake", () => {
  it("minReplicas 2 with idleMinutes 30 declares the tracking policy only: no alarm, no step policy", async () => {
    const rs = await declare({ fleet: { ...ONE_UP, minReplicas: 2 } });
    assert.deepEqual(kinds(rs), [`${POLICY} fleet-scale`]);
  });

  it("minReplicas 0 with idleMinutes 30 declares tracking, the idle alarm and policy, and the wake alarm and policy", async () => {
    const rs = await declare({ fleet: TO_ZERO });
    assert.deepEqual(kinds(rs), [
      `${POLICY} fleet-idle-to-zero`,
      `${POLICY} fleet-scale`,
      `${POLICY} fleet-wake-one`,
      `${ALARM} fleet-idle`,
      `${ALARM} fleet-wake`,
    ]);
  });

  it("minReplicas 0 with idleMinutes null declares the wake pieces but no idle alarm or policy", async () => {
    const rs = await declare({ fleet: TO_ZERO, idleMinutes: null });
    assert.deepEqual(kinds(rs), [`${POLICY} fleet-scale`, `${POLICY} fleet-wake-one`, `${ALARM} fleet-wake`]);
  });

  it("idle policy: StepScaling to ExactCapacity 0 for any value below the threshold, with the warm-up", async () => {
    const rs = await declare({ fleet: TO_ZERO });
    assert.deepEqual(named(rs, "fleet-idle-to-zero").inputs, {
      autoscalingGroupName: GROUP,
      policyType: "StepScaling",
      adjustmentType: "ExactCapacity",
      estimatedInstanceWarmup: WARMUP,
      stepAdjustments: [{ metricIntervalUpperBound: "0", scalingAdjustment: 0 }],
    });
  });

  it("idle alarm: RequestCount + HTTPCode_ELB_503_Count (Sum, 60 s) < 1 for 30 periods, missing data breaching, runs the idle policy", async () => {
    const rs = await declare({ fleet: TO_ZERO });
    const metric = (metricName: string) => ({
      namespace: "AWS/ApplicationELB",
      metricName,
      dimensions: { LoadBalancer: LB },
      period: 60,
      stat: "Sum",
    });
    assert.deepEqual(named(rs, "fleet-idle").inputs, {
      alarmDescription: "No request at the load balancer for 30 minutes: the fleet goes to zero replicas.",
      metricQueries: [
        { id: "routed", metric: metric("RequestCount"), returnData: false },
        { id: "unrouted", metric: metric("HTTPCode_ELB_503_Count"), returnData: false },
        {
          id: "requests",
          label: "Requests routed or turned away for want of a replica",
          expression: "routed + unrouted",
          returnData: true,
        },
      ],
      comparisonOperator: "LessThanThreshold",
      threshold: 1,
      evaluationPeriods: 30,
      treatMissingData: "breaching",
      alarmActions: [policyArn("fleet-idle-to-zero")],
      tags: TAGS,
    });
  });

  it("idle alarm with idleAlarmActions [topic]: runs the idle policy first, then notifies the topic; the wake alarm keeps its policy only", async () => {
    const topic = "arn:aws:sns:us-east-1:123456789012:fleet-idle-topic-4f1c2e7";
    const rs = await declare({ fleet: TO_ZERO, idleAlarmActions: [topic] });
    assert.deepEqual(named(rs, "fleet-idle").inputs.alarmActions, [policyArn("fleet-idle-to-zero"), topic]);
    assert.deepEqual(named(rs, "fleet-wake").inputs.alarmActions, [policyArn("fleet-wake-one")]);
  });

  it("idle window: 60 s periods up to a day (1440 → 1440 × 60 s), whole hours past it (1441 → 25 × 3600 s, 10080 → 168 × 3600 s)", () => {
    assert.deepEqual(idleWindow(5), { periodSeconds: 60, evaluationPeriods: 5 });
    assert.deepEqual(idleWindow(1440), { periodSeconds: 60, evaluationPeriods: 1440 });
    assert.deepEqual(idleWindow(1441), { periodSeconds: 3600, evaluationPeriods: 25 });
    assert.deepEqual(idleWindow(10080), { periodSeconds: 3600, evaluationPeriods: 168 });
  });

  it("idle alarm for idleMinutes 2880: both metrics at 3600 s periods, 48 evaluation periods", async () => {
    const rs = await declare({ fleet: TO_ZERO, idleMinutes: 2880 });
    const inputs = named(rs, "fleet-idle").inputs;
    const queries = inputs.metricQueries as { metric?: { period: number } }[];
    assert.deepEqual(
      queries.map((q) => q.metric?.period),
      [3600, 3600, undefined],
    );
    assert.equal(inputs.evaluationPeriods, 48);
  });

  it("wake policy: StepScaling ChangeInCapacity +1 for any value at or above the threshold, with the warm-up", async () => {
    const rs = await declare({ fleet: TO_ZERO });
    assert.deepEqual(named(rs, "fleet-wake-one").inputs, {
      autoscalingGroupName: GROUP,
      policyType: "StepScaling",
      adjustmentType: "ChangeInCapacity",
      estimatedInstanceWarmup: WARMUP,
      stepAdjustments: [{ metricIntervalLowerBound: "0", scalingAdjustment: 1 }],
    });
  });

  it("wake alarm: HTTPCode_ELB_503_Count Sum >= 1 in one 60 s period on the LoadBalancer, missing data not breaching, runs the wake policy", async () => {
    const rs = await declare({ engine: "ollama", fleet: TO_ZERO });
    assert.deepEqual(named(rs, "fleet-wake").inputs, {
      alarmDescription: "A request found no replica to serve it: one replica starts.",
      namespace: "AWS/ApplicationELB",
      metricName: "HTTPCode_ELB_503_Count",
      dimensions: { LoadBalancer: LB },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      threshold: 1,
      treatMissingData: "notBreaching",
      alarmActions: [policyArn("fleet-wake-one")],
      tags: TAGS,
    });
  });

  it("every resource is a child of the parent given in opts", async () => {
    recorded.length = 0;
    const parent = new pulumi.ComponentResource("qwen3-serve:aws:Fleet", "fleet");
    const scaling = declareScaling({
      name: "fleet",
      opts: { parent },
      tags: TAGS,
      group: { name: GROUP },
      loadBalancerArnSuffix: LB,
      targetGroupArnSuffix: TG,
      engine: "vllm",
      fleet: TO_ZERO,
      idleMinutes: 30,
      warmupSeconds: WARMUP,
    });
    const urns = await Promise.all(
      [scaling.tracking, scaling.idle?.alarm, scaling.wake?.policy].map((r) => value(r?.urn ?? pulumi.output(""))),
    );
    for (const urn of urns) assert.match(urn, /::qwen3-serve:aws:Fleet\$aws:/);
  });
});

describe("fleetInstanceStatements", () => {
  const arn = `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:6a4b1f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b:autoScalingGroupName/${GROUP}`;

  it("allows PutMetricData on * only in namespace qwen3-serve, and SetInstanceProtection on exactly the group's ARN, nothing else", () => {
    assert.deepEqual(fleetInstanceStatements(arn, "us-east-1"), [
      {
        Sid: "PublishQueueMetric",
        Effect: "Allow",
        Action: ["cloudwatch:PutMetricData"],
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": "qwen3-serve" } },
      },
      {
        Sid: "ProtectWhileServing",
        Effect: "Allow",
        Action: ["autoscaling:SetInstanceProtection"],
        Resource: [arn],
      },
    ]);
  });

  it("autoScalingGroupArnFor names the group with a wildcard id, and the statements accept it", () => {
    const byName = autoScalingGroupArnFor("eu-west-1", "123456789012", GROUP);
    assert.equal(byName, `arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/${GROUP}`);
    assert.deepEqual(fleetInstanceStatements(byName, "eu-west-1")[1]?.Resource, [byName]);
  });

  it("refuses an ARN in another region, a wildcard group name, a group name alone, or a launch template ARN", () => {
    for (const bad of [
      arn,
      arn.replace(`autoScalingGroupName/${GROUP}`, "autoScalingGroupName/*"),
      GROUP,
      "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0abc",
    ])
      assert.throws(
        () => fleetInstanceStatements(bad, bad === arn ? "us-west-2" : "us-east-1"),
        /is not an Auto Scaling group ARN/,
      );
  });
});
