/**
 * Fleet mode on AWS under Pulumi mocks, for the team example stack (Qwen3-30B-A3B FP8 on vLLM, 0 to 4
 * replicas): the exact resources of `qwen3-serve:aws:Fleet` and their inputs (launch templates, the Auto
 * Scaling group, the load balancer and its security groups, the listener's 401 and the forward rule, the
 * target group, the role's extra permissions, the S3 weights mirror's pre-flight, IAM and user-data settings, with
 * the bucket's SSM lookup faked), the outputs, and the config mistakes a fleet refuses before anything is declared.
 *
 * What this proves: the inputs we send to AWS. It does not prove AWS accepts them, that the ALB's header
 * condition matches as documented, or that the group scales.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { UserError } from "../components/errors/userError";
import { deployStack, type StackContext, type StackOutputs } from "../components/program/deploy";
import { wakerFunctionName, wakerStatements } from "../components/targets/fleetWaker";
import { stackFileConfig } from "./helpers/stacks";
import {
  MOCK_API_KEY,
  ofType,
  outputValue,
  recorded,
  registeredOptions,
  resolveAll,
  secretValue,
  settle,
  useMocks,
} from "./helpers/pulumiMocks";

const MY_IP = "198.51.100.77";
/** The shared weights bucket the fake SSM lookup reports for us-east-1 (the team stack reads the S3 mirror). */
const BUCKET = "qwen3-serve-weights-5f3a9c0e1d2b";
/**
 * Every region the mirror pre-flight asked for, in order, with how many resources had registered by then (after
 * letting pending registrations land, so a resource constructed before the lookup would be counted).
 */
const bucketLookups: { region: string; declaredBefore: number }[] = [];
const ctx = (stack: string): StackContext => ({
  project: "qwen3-serve",
  stack,
  defaultOwner: "tester",
  myIp: async () => MY_IP,
  isSecret: () => true,
  // As the shared stack publishes it: the bucket's name in us-east-1 only; no parameter elsewhere.
  weightsBucket: async (region) => {
    await settle();
    bucketLookups.push({ region, declaredBefore: recorded.length });
    return region === "us-east-1" ? BUCKET : null;
  },
});
const LT = "aws:ec2/launchTemplate:LaunchTemplate";
const ASG = "aws:autoscaling/group:Group";
const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule";
/** The group's fixed name: qwen3-serve-<project>-<stack>-<component>. */
const GROUP_NAME = "qwen3-serve-qwen3-serve-team-team";
/** The team plan's candidates (16K context x 4 fits one L40S), in the plan's $/M-token order. */
const CANDIDATES = ["g6e.xlarge", "g7e.2xlarge", "g6e.2xlarge"];
/** The default subnets of the zones offering them (the mocks offer unnamed types in a, b and c). */
const SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"];
const TAGS = {
  "qwen3-serve:project": "qwen3-serve",
  "qwen3-serve:stack": "team",
  "qwen3-serve:model": "Qwen3-30B-A3B",
  "qwen3-serve:engine": "vllm",
  "qwen3-serve:owner": "ml-platform",
  "qwen3-serve:idle-minutes": "30",
};
/** What a fleet with minReplicas 0 adds for its waker, and a fleet with minReplicas >= 1 never declares. */
const WAKER_TYPES = [
  "aws:lb/targetGroup:TargetGroup",
  "aws:cloudwatch/logGroup:LogGroup",
  "aws:iam/role:Role",
  "aws:iam/rolePolicy:RolePolicy",
  "aws:lambda/function:Function",
  "aws:lambda/permission:Permission",
  "aws:lambda/permission:Permission",
  "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  "aws:sns/topic:Topic",
  "aws:sns/topicSubscription:TopicSubscription",
];
const ARN = {
  replicasTg: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/team-tg/73e2d6bc24d8a067",
  wakerTg: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/team-waker-tg/73e2d6bc24d8a067",
  rule: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/team-forward/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
  group: `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:6d2ab1c5-1c3e-4a8a-9f3e-0123456789ab:autoScalingGroupName/${GROUP_NAME}`,
  apiKey: "arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/team/api-key",
  function: `arn:aws:lambda:us-east-1:123456789012:function:${GROUP_NAME}-waker`,
  logGroup: `arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/${GROUP_NAME}-waker`,
  topic: "arn:aws:sns:us-east-1:123456789012:team-idle-topic-4f1c2e7",
};
const one = (type: string, name: string): Record<string, unknown> => {
  const r = recorded.find((x) => x.type === type && x.name === name);
  assert.ok(r, `no ${type} ${name}`);
  return r.inputs;
};
/** The team model's folder in the mirror: Qwen/Qwen3-30B-A3B-FP8 at the stack file's modelRevision. */
const PREFIX = "v1/hf/Qwen/Qwen3-30B-A3B-FP8/d206ba732169f29bb77fbf80fc2c4b81d4d30782";
/** The team stack's "last used" marker for that model (read from a deploy, 2026-11-30). */
const USED_KEY = "v1/used/qwen3-serve.team/97b8894fc780ea9f.json";
/** The team fleet's compile-cache prefix in the mirror: the only cache keys its role may read or write. */
const CACHE_PREFIX = "v1/cache/qwen3-serve.team";
/** A launch template's cloud-init, decoded. */
const userDataOf = (inputs: Record<string, unknown>): string =>
  gunzipSync(Buffer.from(String(inputs.userData), "base64")).toString("utf8");
/** The WEIGHTS_MIRROR* lines of the bootstrap env file in a cloud-init (the scripts mention the names too). */
const mirrorEnvOf = (userData: string): Record<string, string> => {
  const file = userData.split("\n  - path: ").find((f) => f.startsWith("/etc/qwen3-serve/bootstrap.env")) ?? "";
  return Object.fromEntries(
    [...file.matchAll(/^\s*(WEIGHTS_MIRROR\w*)=(.*)$/gm)].map((m) => [m[1] ?? "", (m[2] ?? "").replace(/^'|'$/g, "")]),
  );
};
const configOf = (overrides: Record<string, unknown>): Record<string, string> => ({
  ...stackFileConfig("team"),
  // As the CLI passes config: strings as they are, structured values as JSON text.
  ...Object.fromEntries(
    Object.entries(overrides).map(([k, v]) => [`qwen3-serve:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
  ),
});

before(() => useMocks());

describe("the team stack (fleet, minReplicas 0)", () => {
  let out: StackOutputs;

  before(async () => {
    await useMocks();
    bucketLookups.length = 0;
    out = await deployStack(parseStackConfig(decodeConfigValues(stackFileConfig("team"))), ctx("team"));
    await resolveAll(out);
    await resolveAll({ r: out.replicas, t: out.instanceTypes, p: out.pricePerReplicaHour });
  });

  it("declares exactly the fleet's resources and the waker's: no instant fleet, Elastic IP, readiness wait or instance tags", () => {
    const types = recorded.map((r) => r.type).sort();
    assert.deepEqual(
      types,
      [
        "qwen3-serve:aws:Fleet",
        "random:index/randomPassword:RandomPassword",
        // The API key, and in six chunks the machine bundle (idle.py, mirror.py and mirror.sh: the stack reads the mirror).
        ...Array<string>(7).fill("aws:ssm/parameter:Parameter"),
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicy:RolePolicy",
        // The weights mirror: the instance role's weights policy, the engine's read role and its policy.
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/securityGroup:SecurityGroup",
        ...Array<string>(3).fill(INGRESS), // two CIDRs on port 80, the replicas from the ALB
        EGRESS,
        EGRESS,
        ...Array<string>(3).fill(LT),
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
        "aws:lb/listener:Listener",
        "aws:lb/listenerRule:ListenerRule",
        ASG,
        // The waker (minReplicas 0): its target group, log group, role and policy, function, two invoke permissions,
        // the target registration, the idle topic and its subscription.
        ...WAKER_TYPES,
        ...recorded
          .map((r) => r.type)
          .filter((t) => t === "aws:autoscaling/policy:Policy" || t === "aws:cloudwatch/metricAlarm:MetricAlarm"),
      ].sort(),
    );
    assert.ok(
      recorded.some((r) => r.type === "aws:autoscaling/policy:Policy"),
      "declareScaling declared its policies",
    );
  });

  it("one launch template per candidate in plan order: IMDSv2 only, encrypted gp3 root, the scoped profile, the replicas' group, terminate on shutdown", () => {
    const templates = ofType(LT);
    assert.deepEqual(
      templates.map((t) => [t.name, t.inputs.instanceType]),
      [
        ["team-lt-g6e-xlarge", "g6e.xlarge"],
        ["team-lt-g7e-2xlarge", "g7e.2xlarge"],
        ["team-lt-g6e-2xlarge", "g6e.2xlarge"],
      ],
    );
    for (const t of templates) {
      assert.deepEqual(t.inputs.metadataOptions, {
        httpTokens: "required",
        httpEndpoint: "enabled",
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: "enabled",
      });
      // DLAMI 100 GiB OS disk + the plan's 70 GiB.
      assert.deepEqual(t.inputs.blockDeviceMappings, [
        {
          deviceName: "/dev/sda1",
          ebs: {
            volumeType: "gp3",
            volumeSize: 170,
            iops: 3000,
            throughput: 500,
            encrypted: "true",
            deleteOnTermination: "true",
            // aws.rootVolume.initializationRateMiBps's default: every replica's AMI snapshot loads at 300 MiB/s.
            volumeInitializationRate: 300,
          },
        },
      ]);
      assert.deepEqual(t.inputs.iamInstanceProfile, { name: "team-profile-1c2d" });
      assert.deepEqual(t.inputs.vpcSecurityGroupIds, ["team-sg-id"]);
      assert.equal(t.inputs.instanceInitiatedShutdownBehavior, "terminate");
      assert.equal(t.inputs.keyName, undefined);
      assert.equal(t.inputs.instanceMarketOptions, undefined);
    }
  });

  it("each replica's user data carries the fleet settings and no secret", () => {
    for (const t of ofType(LT)) {
      const text = gunzipSync(Buffer.from(String(t.inputs.userData), "base64")).toString("utf8");
      assert.ok(!text.includes(MOCK_API_KEY), "the API key is not in user data");
      // The env file's KEY='value' lines (components/machine/render.ts quotes every value for bash).
      for (const line of [
        `FLEET_ASG_NAME='${GROUP_NAME}'`,
        "FLEET_REGION='us-east-1'",
        "FLEET_METRIC_NAMESPACE='qwen3-serve'",
        "FLEET_QUEUE_METRIC='QueueDepth'",
        "FLEET_PUBLISH_QUEUE='1'",
        "FLEET_READY_PATH='/qwen3-serve/ready'",
      ])
        assert.ok(text.includes(`\n      ${line}\n`), line);
    }
  });

  it(
    "the group: fixed name, 0 to 4 replicas, desiredCapacity left to scaling, every offering zone, ELB health after " +
      "the plan's grace, prioritized mixed instances, rolling refresh, tags at launch",
    () => {
      const g = one(ASG, "team-asg");
      assert.equal(g.name, GROUP_NAME);
      assert.equal(g.minSize, 0);
      assert.equal(g.maxSize, 4);
      assert.equal(g.desiredCapacity, 0);
      assert.deepEqual(registeredOptions.get("team-asg")?.ignoreChanges, ["desiredCapacity"]);
      assert.deepEqual(g.vpcZoneIdentifiers, SUBNETS);
      assert.equal(g.healthCheckType, "ELB");
      // readinessTimeoutSeconds of the team plan on the DLAMI (weights, image, load), as the plan CLI computes it.
      assert.equal(g.healthCheckGracePeriod, 2732);
      assert.equal(g.capacityRebalance, false, "on-demand: nothing to rebalance");
      assert.deepEqual(g.targetGroupArns, [
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/team-tg/73e2d6bc24d8a067",
      ]);
      const mip = g.mixedInstancesPolicy as {
        instancesDistribution: Record<string, unknown>;
        launchTemplate: { launchTemplateSpecification: unknown; overrides: unknown[] };
      };
      assert.deepEqual(mip.instancesDistribution, {
        onDemandAllocationStrategy: "prioritized",
        onDemandBaseCapacity: 0,
        onDemandPercentageAboveBaseCapacity: 100,
      });
      assert.deepEqual(mip.launchTemplate.launchTemplateSpecification, {
        launchTemplateId: "lt-0team-lt-g6e-xlarge",
        version: "1",
      });
      assert.deepEqual(
        mip.launchTemplate.overrides,
        CANDIDATES.map((t) => ({
          instanceType: t,
          launchTemplateSpecification: { launchTemplateId: `lt-0team-lt-${t.replace(".", "-")}`, version: "1" },
        })),
      );
      assert.deepEqual(g.instanceRefresh, {
        strategy: "Rolling",
        preferences: {
          minHealthyPercentage: 100,
          maxHealthyPercentage: 200,
          scaleInProtectedInstances: "Wait",
          standbyInstances: "Wait",
        },
      });
      const tags = Object.fromEntries(
        (g.tags as { key: string; value: string; propagateAtLaunch: boolean }[]).map((t) => {
          assert.equal(t.propagateAtLaunch, true, t.key);
          return [t.key, t.value];
        }),
      );
      assert.deepEqual(tags, { ...TAGS, "qwen3-serve:component": "team", Name: "qwen3-serve-team" });
    },
  );

  it("the load balancer: internet-facing, in the default subnets, its own security group, a one-hour idle timeout", () => {
    const alb = one("aws:lb/loadBalancer:LoadBalancer", "team-alb");
    assert.equal(alb.loadBalancerType, "application");
    assert.equal(alb.internal, false);
    assert.deepEqual(alb.subnets, SUBNETS);
    assert.deepEqual(alb.securityGroups, ["team-alb-sg-id"]);
    assert.equal(alb.idleTimeout, 3600);
    assert.equal(alb.dropInvalidHeaderFields, true);
  });

  it("security groups: the ALB takes port 80 from the allowed CIDRs only; the replicas take the proxy port from the ALB's group only", () => {
    const rules = ofType(INGRESS).map((r) => r.inputs);
    assert.deepEqual(
      rules.filter((r) => r.securityGroupId === "team-alb-sg-id").map((r) => [r.cidrIpv4, r.fromPort, r.toPort]),
      [
        ["198.51.100.0/24", 80, 80],
        ["198.51.100.77/32", 80, 80],
      ],
    );
    const toReplicas = rules.filter((r) => r.securityGroupId === "team-sg-id");
    assert.equal(toReplicas.length, 1);
    assert.equal(toReplicas[0]?.referencedSecurityGroupId, "team-alb-sg-id");
    assert.equal(toReplicas[0]?.cidrIpv4, undefined, "no CIDR reaches a replica");
    assert.deepEqual([toReplicas[0]?.fromPort, toReplicas[0]?.toPort, toReplicas[0]?.ipProtocol], [8080, 8080, "tcp"]);
    const albOut = one(EGRESS, "team-alb-egress");
    assert.deepEqual(
      [albOut.referencedSecurityGroupId, albOut.fromPort, albOut.toPort, albOut.cidrIpv4],
      ["team-sg-id", 8080, 8080, undefined],
    );
  });

  it("the target group: HTTP on the proxy port, least outstanding requests, 900 s deregistration, health on the readiness path", () => {
    const tg = one("aws:lb/targetGroup:TargetGroup", "team-tg");
    assert.equal(tg.protocol, "HTTP");
    assert.equal(tg.port, 8080);
    assert.equal(tg.targetType, "instance");
    assert.equal(tg.vpcId, "vpc-0default");
    assert.equal(tg.loadBalancingAlgorithmType, "least_outstanding_requests");
    assert.equal(tg.deregistrationDelay, 900);
    assert.deepEqual(tg.healthCheck, {
      enabled: true,
      protocol: "HTTP",
      port: "traffic-port",
      path: "/qwen3-serve/ready",
      matcher: "200",
      interval: 15,
      timeout: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
  });

  it("the listener answers 401 in the proxy's JSON by default and forwards only requests with a Bearer Authorization header, first to the waker", () => {
    const listener = one("aws:lb/listener:Listener", "team-http");
    assert.equal(listener.port, 80);
    assert.equal(listener.protocol, "HTTP");
    assert.deepEqual(listener.defaultActions, [
      {
        type: "fixed-response",
        fixedResponse: {
          contentType: "application/json",
          statusCode: "401",
          messageBody: '{"error":{"message":"missing or wrong API key","type":"authentication_error"}}',
        },
      },
    ]);
    const rule = one("aws:lb/listenerRule:ListenerRule", "team-forward");
    assert.equal(
      rule.listenerArn,
      "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/team-http/50dc6c495c0c9188/f2f7dc8efc522ab2",
    );
    assert.deepEqual(rule.conditions, [{ httpHeader: { httpHeaderName: "Authorization", values: ["Bearer *"] } }]);
    // A new fleet at zero: keyed requests go to the waker until a replica is healthy.
    assert.deepEqual(rule.actions, [{ type: "forward", targetGroupArn: ARN.wakerTg }]);
  });

  it("the forward rule ignores changes to its actions (the waker switches them) and depends on both target groups", () => {
    const options = registeredOptions.get("team-forward");
    assert.deepEqual(options?.ignoreChanges, ["actions"]);
    const after = options?.dependsOn ?? [];
    assert.ok(after.includes("team-tg") && after.includes("team-waker-tg"), after.join(", "));
  });

  it("the waker: python3.12 waker.handler, 128 MB, 10 s, named after the group, the shipped waker.py as its only file", async () => {
    const fn = one("aws:lambda/function:Function", "team-waker");
    assert.equal(fn.name, `${GROUP_NAME}-waker`);
    assert.equal(fn.runtime, "python3.12");
    assert.equal(fn.handler, "waker.handler");
    assert.equal(fn.memorySize, 128);
    assert.equal(fn.timeout, 10);
    assert.equal(fn.role, "arn:aws:iam::123456789012:role/team-waker-role-7f3a");
    assert.deepEqual(fn.tags, TAGS);
    const archive = fn.code as pulumi.asset.AssetArchive;
    assert.ok(archive instanceof pulumi.asset.AssetArchive, "code is an archive");
    const assets = await archive.assets;
    assert.deepEqual(Object.keys(assets), ["waker.py"]);
    const text = await (assets["waker.py"] as pulumi.asset.StringAsset).text;
    assert.equal(text, readFileSync(path.join(__dirname, "..", "components", "fleet", "waker.py"), "utf8"));
    const after = registeredOptions.get("team-waker")?.dependsOn ?? [];
    assert.ok(after.includes("team-waker-logs") && after.includes("team-waker-policy"), after.join(", "));
  });

  it("the waker's environment: the group, the rule, both target groups, the key's parameter name, Retry-After 30 s, ready in the plan's 2732 s", () => {
    assert.deepEqual(one("aws:lambda/function:Function", "team-waker").environment, {
      variables: {
        GROUP_NAME,
        RULE_ARN: ARN.rule,
        REPLICAS_TG_ARN: ARN.replicasTg,
        WAKER_TG_ARN: ARN.wakerTg,
        API_KEY_PARAMETER: "/qwen3-serve/team/api-key",
        RETRY_AFTER_SECONDS: "30",
        READY_ESTIMATE_SECONDS: "2732",
      },
    });
  });

  it("the waker's log group: /aws/lambda/<function name>, kept 30 days", () => {
    assert.deepEqual(one("aws:cloudwatch/logGroup:LogGroup", "team-waker-logs"), {
      name: `/aws/lambda/${GROUP_NAME}-waker`,
      retentionInDays: 30,
      tags: TAGS,
    });
  });

  it(
    "the waker's role: assumed by Lambda only; its policy exactly: own log streams, desired capacity of this group, " +
      "the forward rule, target health, the key's parameter and a Deny on others",
    () => {
      const role = one("aws:iam/role:Role", "team-waker-role");
      assert.deepEqual(JSON.parse(String(role.assumeRolePolicy)), {
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
      });
      const policy = one("aws:iam/rolePolicy:RolePolicy", "team-waker-policy");
      assert.equal(policy.role, "team-waker-role-7f3a");
      assert.deepEqual(JSON.parse(String(policy.policy)), {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "OwnLogs",
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource: [`${ARN.logGroup}:*`],
          },
          { Sid: "WakeOneReplica", Effect: "Allow", Action: ["autoscaling:SetDesiredCapacity"], Resource: [ARN.group] },
          { Sid: "ReadGroup", Effect: "Allow", Action: ["autoscaling:DescribeAutoScalingGroups"], Resource: "*" },
          {
            Sid: "SwitchForwardRule",
            Effect: "Allow",
            Action: ["elasticloadbalancing:ModifyRule"],
            Resource: [ARN.rule],
          },
          {
            Sid: "ReadTargetHealth",
            Effect: "Allow",
            Action: ["elasticloadbalancing:DescribeTargetHealth"],
            Resource: "*",
          },
          { Sid: "ReadApiKey", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [ARN.apiKey] },
          { Sid: "NoOtherParameters", Effect: "Deny", Action: ["ssm:GetParameter*"], NotResource: [ARN.apiKey] },
        ],
      });
    },
  );

  it("the waker's target: a Lambda target group, invocable by the load balancer from that group only, the function registered after the permission", () => {
    assert.deepEqual(one("aws:lb/targetGroup:TargetGroup", "team-waker-tg"), { targetType: "lambda", tags: TAGS });
    assert.deepEqual(one("aws:lambda/permission:Permission", "team-waker-alb"), {
      action: "lambda:InvokeFunction",
      function: `${GROUP_NAME}-waker`,
      principal: "elasticloadbalancing.amazonaws.com",
      sourceArn: ARN.wakerTg,
    });
    assert.deepEqual(one("aws:lb/targetGroupAttachment:TargetGroupAttachment", "team-waker-target"), {
      targetGroupArn: ARN.wakerTg,
      targetId: ARN.function,
    });
    assert.ok(registeredOptions.get("team-waker-target")?.dependsOn.includes("team-waker-alb"));
  });

  it("the idle topic: unencrypted (CloudWatch cannot publish with aws/sns), the function subscribed after SNS may invoke it from this topic only", () => {
    assert.deepEqual(one("aws:sns/topic:Topic", "team-idle-topic"), { tags: TAGS });
    assert.deepEqual(one("aws:lambda/permission:Permission", "team-waker-sns"), {
      action: "lambda:InvokeFunction",
      function: `${GROUP_NAME}-waker`,
      principal: "sns.amazonaws.com",
      sourceArn: ARN.topic,
    });
    assert.deepEqual(one("aws:sns/topicSubscription:TopicSubscription", "team-waker-sub"), {
      topic: ARN.topic,
      protocol: "lambda",
      endpoint: ARN.function,
    });
    assert.ok(registeredOptions.get("team-waker-sub")?.dependsOn.includes("team-waker-sns"));
  });

  it("the idle alarm runs the idle-to-zero policy and notifies the waker's topic; the wake alarm only its policy", () => {
    const policyArn = (n: string) =>
      "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0f1e2d3c-4b5a-4c6d-8e7f-0a1b2c3d4e5f:" +
      `autoScalingGroupName/${GROUP_NAME}:policyName/team-${n}`;
    assert.deepEqual(one("aws:cloudwatch/metricAlarm:MetricAlarm", "team-idle").alarmActions, [
      policyArn("idle-to-zero"),
      ARN.topic,
    ]);
    assert.deepEqual(one("aws:cloudwatch/metricAlarm:MetricAlarm", "team-wake").alarmActions, [policyArn("wake-one")]);
  });

  it(
    "the instance role's inline policies are exactly team-instance, team-fleet and team-weights; team-fleet is exactly " +
      "PutMetricData under the qwen3-serve namespace and SetInstanceProtection on this group; team-instance reads the " +
      "API key and the bundle's six chunks only",
    () => {
      assert.deepEqual(
        ofType("aws:iam/rolePolicy:RolePolicy")
          .filter((p) => p.inputs.role === "team-role-7f3a")
          .map((p) => p.name)
          .sort(),
        ["team-fleet", "team-instance", "team-weights"],
      );
      const policy = JSON.parse(String(one("aws:iam/rolePolicy:RolePolicy", "team-fleet").policy)) as {
        Statement: unknown[];
      };
      assert.deepEqual(policy.Statement, [
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
          Resource: [
            `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:6d2ab1c5-1c3e-4a8a-9f3e-0123456789ab:autoScalingGroupName/${GROUP_NAME}`,
          ],
        },
      ]);
      const base = JSON.parse(String(one("aws:iam/rolePolicy:RolePolicy", "team-instance").policy)) as {
        Statement: { Sid: string; Resource?: unknown; NotResource?: unknown }[];
      };
      assert.deepEqual(
        base.Statement.map((s) => s.Sid),
        ["SessionManager", "ReadOwnParameters", "NoOtherParameters"],
      );
      const parameters = [
        "arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/team/api-key",
        ...[0, 1, 2, 3, 4, 5].map(
          (i) => `arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/team/machine/idle.py/${i}`,
        ),
      ];
      assert.deepEqual(base.Statement[1]?.Resource, parameters);
      assert.deepEqual(base.Statement[2]?.NotResource, parameters);
    },
  );

  it("the weights mirror's pre-flight read the bucket's SSM parameter once, for us-east-1, before any resource registered", () => {
    assert.deepEqual(bucketLookups, [{ region: "us-east-1", declaredBefore: 0 }]);
  });

  it(
    "every launch template's user data carries the WEIGHTS_MIRROR_* settings for the team model: streaming, the " +
      "read role's ARN, prefix v1/hf/Qwen/Qwen3-30B-A3B-FP8/d206ba7..., the team's used key, and a compile-cache key " +
      "under v1/cache/qwen3-serve.team/ per GPU setup (both one-L40S types share one)",
    () => {
      const templates = ofType(LT);
      assert.equal(templates.length, 3);
      // Read from a deploy, 2026-11-30: the SHA-256 of image, argv, engine env and GPUs (one L40S, or one RTX PRO 6000).
      const cacheKeys: Record<string, string> = {
        "team-lt-g6e-xlarge": `${CACHE_PREFIX}/d4d6822fa75ef2f98a2f6b8549de9f3d02695a0785eb612a08902005245ddf07.tar.gz`,
        "team-lt-g7e-2xlarge": `${CACHE_PREFIX}/cc91b7798c2a072141370d39a83735ce8cbb4ed243ecdfa0d7f547753b5e9908.tar.gz`,
        "team-lt-g6e-2xlarge": `${CACHE_PREFIX}/d4d6822fa75ef2f98a2f6b8549de9f3d02695a0785eb612a08902005245ddf07.tar.gz`,
      };
      for (const t of templates) {
        assert.deepEqual(mirrorEnvOf(userDataOf(t.inputs)), {
          WEIGHTS_MIRROR_CACHE_KEY: cacheKeys[t.name],
          WEIGHTS_MIRROR: "s3",
          WEIGHTS_MIRROR_BUCKET: BUCKET,
          WEIGHTS_MIRROR_REGION: "us-east-1",
          WEIGHTS_MIRROR_PREFIX: PREFIX,
          WEIGHTS_MIRROR_STREAM: "1",
          WEIGHTS_MIRROR_READ_ROLE_ARN: "arn:aws:iam::123456789012:role/team-weights-read-7f3a",
          WEIGHTS_MIRROR_USED_KEY: USED_KEY,
        });
      }
    },
  );

  it(
    "the instance role's weights policy is exactly list, read and seed on the one model prefix (every candidate serves " +
      "the same model), PutObject on the team's used key, AssumeRole on the read role, and get and put on exactly " +
      "the team's compile-cache prefix",
    () => {
      const policy = one("aws:iam/rolePolicy:RolePolicy", "team-weights");
      assert.equal(policy.role, "team-role-7f3a");
      assert.deepEqual(JSON.parse(String(policy.policy)), {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "ListOwnModel",
            Effect: "Allow",
            Action: "s3:ListBucket",
            Resource: `arn:aws:s3:::${BUCKET}`,
            Condition: { StringLike: { "s3:prefix": [`${PREFIX}/*`] } },
          },
          {
            Sid: "ReadOwnModel",
            Effect: "Allow",
            Action: "s3:GetObject",
            Resource: [`arn:aws:s3:::${BUCKET}/${PREFIX}/*`],
          },
          {
            Sid: "SeedOwnModel",
            Effect: "Allow",
            Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
            Resource: [`arn:aws:s3:::${BUCKET}/${PREFIX}/*`],
          },
          {
            Sid: "MarkModelUsed",
            Effect: "Allow",
            Action: "s3:PutObject",
            Resource: [`arn:aws:s3:::${BUCKET}/${USED_KEY}`],
          },
          {
            Sid: "AssumeWeightsReader",
            Effect: "Allow",
            Action: "sts:AssumeRole",
            Resource: "arn:aws:iam::123456789012:role/team-weights-read-7f3a",
          },
          {
            Sid: "ShareOwnCompileCache",
            Effect: "Allow",
            Action: ["s3:GetObject", "s3:PutObject"],
            Resource: [`arn:aws:s3:::${BUCKET}/${CACHE_PREFIX}/*`],
          },
        ],
      });
    },
  );

  it(
    "the weights-read role trusts the fleet's instance role (team-role) and only it, and its one policy is list and " +
      "read on the model prefix",
    () => {
      assert.deepEqual(JSON.parse(String(one("aws:iam/role:Role", "team-weights-read").assumeRolePolicy)), {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "InstanceRoleOnly",
            Effect: "Allow",
            Principal: { AWS: "arn:aws:iam::123456789012:role/team-role-7f3a" },
            Action: "sts:AssumeRole",
          },
        ],
      });
      const readerPolicies = ofType("aws:iam/rolePolicy:RolePolicy").filter(
        (p) => p.inputs.role === "team-weights-read-7f3a",
      );
      assert.deepEqual(
        readerPolicies.map((p) => p.name),
        ["team-weights-read"],
      );
      assert.deepEqual(JSON.parse(String(readerPolicies[0]?.inputs.policy)), {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "ListOwnModel",
            Effect: "Allow",
            Action: "s3:ListBucket",
            Resource: `arn:aws:s3:::${BUCKET}`,
            Condition: { StringLike: { "s3:prefix": [`${PREFIX}/*`] } },
          },
          {
            Sid: "ReadOwnModel",
            Effect: "Allow",
            Action: "s3:GetObject",
            Resource: [`arn:aws:s3:::${BUCKET}/${PREFIX}/*`],
          },
        ],
      });
    },
  );

  it(
    "of every role policy, only the instance role's ShareOwnCompileCache statement reaches " +
      "v1/cache/, and only the team's prefix; the weights-read role's policy none",
    () => {
      const reaching = ofType("aws:iam/rolePolicy:RolePolicy").flatMap((p) =>
        (JSON.parse(String(p.inputs.policy)) as { Statement: { Sid: string; Resource?: unknown }[] }).Statement.filter(
          (st) => JSON.stringify(st).includes("v1/cache"),
        ).map((st) => [p.name, st.Sid, st.Resource]),
      );
      assert.deepEqual(reaching, [
        ["team-weights", "ShareOwnCompileCache", [`arn:aws:s3:::${BUCKET}/${CACHE_PREFIX}/*`]],
      ]);
    },
  );

  it("outputs: the ALB endpoint ending in /v1, the model, the key as a secret, replicas 0/4/0, the candidates and their prices, the group's name", async () => {
    assert.equal(await outputValue(out.endpoint), "http://team-alb-1234567890.us-east-1.elb.amazonaws.com/v1");
    assert.equal(await outputValue(out.modelName), "Qwen3-30B-A3B");
    assert.equal(await outputValue(out.apiKey), MOCK_API_KEY);
    assert.equal(await pulumi.isSecret(out.apiKey), true);
    assert.deepEqual(await outputValue(out.replicas ?? assert.fail("no replicas")), { min: 0, max: 4, desired: 0 });
    assert.deepEqual(await outputValue(out.instanceTypes ?? assert.fail("no instanceTypes")), CANDIDATES);
    assert.deepEqual(await outputValue(out.pricePerReplicaHour ?? assert.fail("no prices")), {
      "g6e.xlarge": 1.861,
      "g7e.2xlarge": 3.36312,
      "g6e.2xlarge": 2.24208,
    });
    assert.equal(await outputValue(out.pricePerHour), 1.861);
    assert.equal(await outputValue(out.autoScalingGroupName ?? assert.fail("no group name")), GROUP_NAME);
    assert.equal(await outputValue(out.instanceId), GROUP_NAME);
    assert.equal(await outputValue(out.publicIp), "");
    assert.equal(
      await outputValue(out.statusUrl),
      "http://team-alb-1234567890.us-east-1.elb.amazonaws.com/qwen3-serve/status",
    );
  });

  it("with minReplicas 0 nothing waits for readiness (no replica runs until a request wakes the fleet)", () => {
    assert.deepEqual(ofType("command:local:Command"), []);
  });
});

describe("a fleet with minReplicas 1, spot and HTTPS", () => {
  before(async () => {
    await useMocks();
    const config = configOf({
      spot: true,
      fleet: { minReplicas: 1, maxReplicas: 3 },
      aws: { allowedCidrs: ["198.51.100.0/24"], tls: { domain: "llm.example.com", hostedZoneId: "Z0123456789ABC" } },
    });
    const out = await deployStack(parseStackConfig(decodeConfigValues(config)), ctx("team"));
    await resolveAll(out);
  });

  it("spot: an on-demand base of one replica, price-capacity-optimized spot above it, capacity rebalancing", () => {
    const g = one(ASG, "team-asg");
    assert.equal(g.minSize, 1);
    assert.equal(g.desiredCapacity, 1);
    assert.equal(g.capacityRebalance, true);
    assert.deepEqual((g.mixedInstancesPolicy as { instancesDistribution: unknown }).instancesDistribution, {
      onDemandAllocationStrategy: "prioritized",
      onDemandBaseCapacity: 1,
      onDemandPercentageAboveBaseCapacity: 0,
      spotAllocationStrategy: "price-capacity-optimized",
    });
  });

  it("HTTPS: an ACM certificate validated in the zone, 443 with the 401 default, 80 redirecting, the domain aliased to the ALB", () => {
    assert.deepEqual(one("aws:acm/certificate:Certificate", "team-cert"), {
      domainName: "llm.example.com",
      validationMethod: "DNS",
      tags: { ...TAGS, "qwen3-serve:idle-minutes": "30" },
    });
    const validation = one("aws:route53/record:Record", "team-cert-validation");
    assert.equal(validation.zoneId, "Z0123456789ABC");
    assert.equal(validation.type, "CNAME");
    const https = one("aws:lb/listener:Listener", "team-https");
    assert.equal(https.port, 443);
    assert.equal(https.protocol, "HTTPS");
    assert.equal(https.sslPolicy, "ELBSecurityPolicy-TLS13-1-2-2021-06");
    assert.equal(https.certificateArn, "arn:aws:acm:us-east-1:123456789012:certificate/team-cert");
    assert.equal(
      (https.defaultActions as { fixedResponse: { statusCode: string } }[])[0]?.fixedResponse.statusCode,
      "401",
    );
    assert.deepEqual(one("aws:lb/listener:Listener", "team-http").defaultActions, [
      { type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } },
    ]);
    const alias = one("aws:route53/record:Record", "team-dns");
    assert.deepEqual(alias.aliases, [
      {
        name: "team-alb-1234567890.us-east-1.elb.amazonaws.com",
        zoneId: "Z35SXDOTRQ7X7K",
        evaluateTargetHealth: false,
      },
    ]);
    const ports = ofType(INGRESS)
      .filter((r) => r.inputs.securityGroupId === "team-alb-sg-id")
      .map((r) => r.inputs.fromPort);
    assert.deepEqual(ports, [80, 443]);
  });

  it("declares no waker: no Lambda, topic, log group or second target group; the rule forwards to the replicas and pulumi up owns its actions", () => {
    assert.deepEqual(
      recorded.filter((r) => WAKER_TYPES.includes(r.type) && r.name.includes("waker")).map((r) => r.name),
      [],
    );
    for (const type of WAKER_TYPES.filter((t) => t !== "aws:lb/targetGroup:TargetGroup" && !t.startsWith("aws:iam/")))
      assert.deepEqual(ofType(type), [], type);
    assert.deepEqual(
      ofType("aws:lb/targetGroup:TargetGroup").map((r) => r.name),
      ["team-tg"],
    );
    assert.deepEqual(one("aws:lb/listenerRule:ListenerRule", "team-forward").actions, [
      { type: "forward", targetGroupArn: ARN.replicasTg },
    ]);
    assert.deepEqual(registeredOptions.get("team-forward")?.ignoreChanges, []);
  });

  it("waits for a real completion through https://<domain> once the group and the forward rule exist", () => {
    const waits = ofType("command:local:Command");
    assert.equal(waits.length, 1);
    const env = secretValue(waits[0]?.inputs.environment) as Record<string, string>;
    assert.equal(env.QS_BASE_URL, "https://llm.example.com");
    assert.equal(env.QS_MODEL, "Qwen3-30B-A3B");
    const after = registeredOptions.get("team-ready")?.dependsOn ?? [];
    assert.ok(after.includes("team-asg") && after.includes("team-forward"), after.join(", "));
  });
});

describe("the waker's name and policy, from their inputs", () => {
  it("wakerFunctionName: <group>-waker when it fits Lambda's 64 letters, digits, - and _; else a prefix, 8 hex of SHA-256, -waker", () => {
    assert.equal(wakerFunctionName(GROUP_NAME), "qwen3-serve-qwen3-serve-team-team-waker");
    assert.equal(
      wakerFunctionName("qwen3-serve-my.project-prod-team"),
      "qwen3-serve-my-project-prod-team-65aa72d9-waker",
    );
    assert.equal(
      wakerFunctionName(`qwen3-serve-${"a".repeat(60)}-prod-team`),
      `qwen3-serve-${"a".repeat(37)}-de87407e-waker`,
    );
  });

  it("wakerStatements refuses an empty ARN or one with a wildcard, so no grant widens", () => {
    const arns = { logGroup: ARN.logGroup, group: ARN.group, rule: ARN.rule, apiKeyParameter: ARN.apiKey };
    assert.equal(wakerStatements(arns).length, 7);
    for (const bad of [
      { ...arns, rule: "" },
      { ...arns, group: ARN.group.replace(GROUP_NAME, "*") },
    ])
      assert.throws(() => wakerStatements(bad), /is not one resource's ARN/);
  });
});

describe("fleet config mistakes, refused before anything is declared", () => {
  const refuses = async (
    overrides: Record<string, unknown>,
    key: string,
    problem: RegExp,
    target?: Record<string, string>,
  ): Promise<void> => {
    await useMocks();
    assert.throws(
      () => parseStackConfig(decodeConfigValues({ ...configOf(overrides), ...target })),
      (e: unknown) => e instanceof UserError && e.key === key && problem.test(e.problem),
    );
    assert.deepEqual(recorded, []);
  };

  it("a fleet on the workstation or docker target names `fleet`", async () => {
    const docker = {
      "qwen3-serve:target": "docker",
      "qwen3-serve:docker": JSON.stringify({ gpus: { model: "RTX-4090", count: 1 } }),
      "qwen3-serve:aws": "",
    };
    await useMocks();
    const raw = decodeConfigValues({ ...stackFileConfig("team"), ...docker });
    delete raw.aws;
    assert.throws(
      () => parseStackConfig(raw),
      (e: unknown) =>
        e instanceof UserError && e.key === "fleet" && /the docker target serves from one machine/.test(e.problem),
    );
    const ws = decodeConfigValues({
      ...stackFileConfig("workstation"),
      "qwen3-serve:fleet": JSON.stringify({ maxReplicas: 2 }),
      "qwen3-serve:sshPrivateKey": "key",
    });
    assert.throws(
      () => parseStackConfig(ws),
      (e: unknown) => e instanceof UserError && e.key === "fleet" && /the workstation target/.test(e.problem),
    );
  });

  it("minReplicas above maxReplicas", () =>
    refuses({ fleet: { minReplicas: 3, maxReplicas: 2 } }, "fleet.minReplicas", /is above fleet\.maxReplicas \(2\)/));

  it("a fleet without allowedCidrs", () =>
    refuses({ aws: { rootVolume: { iops: 3000 } } }, "aws.allowedCidrs", /required with a fleet/));

  it("a private fleet", () =>
    refuses({ aws: { private: true, subnetId: "subnet-0123456789abcdef0" } }, "aws.private", /public load balancer/));

  it("idleAction stop", () => refuses({ idleAction: "stop" }, "idleAction", /never stopped/));

  it("minReplicas 0 with idleMinutes off", () => refuses({ idleMinutes: "off" }, "idleMinutes", /goes to zero/));

  it("ssh, a single subnet, spotFallback", async () => {
    await refuses(
      { aws: { allowedCidrs: ["198.51.100.0/24"], ssh: { keyName: "k", allowedCidrs: ["198.51.100.0/24"] } } },
      "aws.ssh",
      /only from the load balancer/,
    );
    await refuses(
      { aws: { allowedCidrs: ["198.51.100.0/24"], subnetId: "subnet-0123456789abcdef0" } },
      "aws.subnetId",
      /two zones/,
    );
    await refuses(
      { spot: true, aws: { allowedCidrs: ["198.51.100.0/24"], spotFallback: "on-demand" } },
      "aws.spotFallback",
      /mixes markets/,
    );
  });

  it("HTTPS on a fleet: the hosted zone is required, the Let's Encrypt fields are refused", async () => {
    await refuses(
      { aws: { allowedCidrs: ["198.51.100.0/24"], tls: { domain: "llm.example.com" } } },
      "aws.tls.hostedZoneId",
      /ACM certificate/,
    );
    await refuses(
      {
        aws: {
          allowedCidrs: ["198.51.100.0/24"],
          tls: { domain: "llm.example.com", hostedZoneId: "Z0123456789ABC", email: "ops@example.com" },
        },
      },
      "aws.tls.email",
      /would be ignored/,
    );
    await refuses(
      {
        aws: {
          allowedCidrs: ["198.51.100.0/24"],
          tls: { domain: "llm.example.com", hostedZoneId: "Z0123456789ABC", openPort80ForAcme: true },
        },
      },
      "aws.tls.openPort80ForAcme",
      /no ACME check/,
    );
  });

  it("a single machine's tls still needs its Let's Encrypt email", async () => {
    const raw = decodeConfigValues({
      ...stackFileConfig("dev"),
      "qwen3-serve:aws": JSON.stringify({
        allowedCidrs: ["198.51.100.0/24"],
        tls: { domain: "llm.example.com", openPort80ForAcme: true },
      }),
    });
    assert.throws(
      () => parseStackConfig(raw),
      (e: unknown) => e instanceof UserError && e.key === "aws.tls.email" && e.value === "(missing)",
    );
  });
});
