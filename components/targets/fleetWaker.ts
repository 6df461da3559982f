/**
 * The waker of a fleet with minReplicas 0, declared by `qwen3-serve:aws:Fleet` with itself as parent: a small
 * Lambda function (components/fleet/waker.py) behind a Lambda target group. While the fleet is at zero the
 * forward rule sends keyed requests to it; it answers 503 with Retry-After and an explanation, and sets the
 * group's desired capacity to 1. Once a replica is healthy it switches the rule back to the replicas' target
 * group; when the idle alarm takes the fleet to zero, the alarm's SNS topic invokes it and it switches the rule
 * to itself again. An ALB fixed response cannot set headers, hence a function rather than a rule.
 * Plain functions, no component of their own, so the resources keep the Fleet's provider and names.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

/** Seconds the waker's 503 tells a client to wait before it retries (its Retry-After header). */
export const WAKER_RETRY_AFTER_SECONDS = 30;

/** Days CloudWatch Logs keeps the waker's log (one line per wake or switch); destroy removes the group. */
export const WAKER_LOG_RETENTION_DAYS = 30;

/** The waker's file and its handler: waker.py's `handler`. */
const WAKER_FILE = "waker.py";
const WAKER_HANDLER = "waker.handler";

/**
 * waker.py as shipped: read at run time from components/fleet/ next to this folder (the build copies every
 * non-TypeScript file under components/ into dist/ with the same layout), as machine/assets.ts reads its scripts.
 */
export function wakerCode(dir: string = __dirname): string {
  return readFileSync(path.join(dir, "..", "fleet", WAKER_FILE), "utf8");
}

/**
 * The function's fixed name, so its log group can exist before it: `<group name>-waker`. Lambda names take
 * letters, digits, hyphens and underscores, 64 at most
 * (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html, FunctionName, read 2026-11-30); a group
 * name with other characters, or too long, keeps a prefix and gains 8 hex of its SHA-256, so names stay unique.
 */
export function wakerFunctionName(groupName: string): string {
  const clean = groupName.replace(/[^A-Za-z0-9_-]/g, "-");
  const plain = `${clean}-waker`;
  if (plain.length <= 64 && clean === groupName) return plain;
  const hash = createHash("sha256").update(groupName, "utf8").digest("hex").slice(0, 8);
  return `${clean.slice(0, 64 - "-waker".length - hash.length - 1)}-${hash}-waker`;
}

/** One statement of the waker's policy: an Allow on resources, or the Deny on every other parameter. */
export type WakerStatement =
  | {
      readonly Sid: string;
      readonly Effect: "Allow";
      readonly Action: readonly string[];
      readonly Resource: string | readonly string[];
    }
  | {
      readonly Sid: string;
      readonly Effect: "Deny";
      readonly Action: readonly string[];
      readonly NotResource: readonly string[];
    };

/** The ARNs the waker's policy names. */
export interface WakerArns {
  /** Its log group (CloudWatch's form, without the trailing `:*`). */
  readonly logGroup: string;
  /** The Auto Scaling group. */
  readonly group: string;
  /** The listener rule that forwards keyed requests. */
  readonly rule: string;
  /** The SSM parameter holding the API key. */
  readonly apiKeyParameter: string;
}

/**
 * Exactly what the waker may do, each grant as narrow as the service allows (Service Authorization Reference,
 * all read 2026-11-30):
 * - its own log streams: PutLogEvents acts on a log stream, whose ARN is the group's with `:log-stream:<name>`
 *   after it, so `<group arn>:*` covers the group and its streams, as AWS's Lambda operator guide scopes it
 *   (https://serverlessland.com/content/service/lambda/guides/aws-lambda-operator-guide/access-logs); no
 *   CreateLogGroup: the group is ours, declared with a retention;
 * - SetDesiredCapacity on this group's ARN (resource type autoScalingGroup); DescribeAutoScalingGroups has no
 *   resource type, so "*" (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html);
 * - ModifyRule on the forward rule's ARN (listener-rule/app); DescribeTargetHealth has no resource type, so "*"
 *   (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html);
 * - GetParameter on the API key's parameter, and a Deny on every other parameter, as the instance role has
 *   (./awsShared.ts instancePolicy). The SecureString's aws/ssm key lets SSM decrypt for callers allowed to read it.
 * Throws when an ARN is empty or holds a wildcard, so a missing value cannot widen a grant.
 */
export function wakerStatements(arns: WakerArns): WakerStatement[] {
  for (const [key, arn] of Object.entries(arns))
    if (!arn.startsWith("arn:") || arn.includes("*"))
      throw new Error(`wakerStatements: ${key} ${JSON.stringify(arn)} is not one resource's ARN`);
  return [
    {
      Sid: "OwnLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: [`${arns.logGroup}:*`],
    },
    { Sid: "WakeOneReplica", Effect: "Allow", Action: ["autoscaling:SetDesiredCapacity"], Resource: [arns.group] },
    { Sid: "ReadGroup", Effect: "Allow", Action: ["autoscaling:DescribeAutoScalingGroups"], Resource: "*" },
    { Sid: "SwitchForwardRule", Effect: "Allow", Action: ["elasticloadbalancing:ModifyRule"], Resource: [arns.rule] },
    { Sid: "ReadTargetHealth", Effect: "Allow", Action: ["elasticloadbalancing:DescribeTargetHealth"], Resource: "*" },
    { Sid: "ReadApiKey", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [arns.apiKeyParameter] },
    { Sid: "NoOtherParameters", Effect: "Deny", Action: ["ssm:GetParameter*"], NotResource: [arns.apiKeyParameter] },
  ];
}

/**
 * The waker's target group: Lambda targets take no port, protocol or VPC, and their health checks are off by
 * default (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html, read
 * 2026-11-30). Declared before the forward rule, which starts on it: a new fleet is at zero.
 */
export function declareWakerTargetGroup(
  name: string,
  opts: pulumi.CustomResourceOptions,
  tags: Record<string, string>,
): aws.lb.TargetGroup {
  return new aws.lb.TargetGroup(`${name}-waker-tg`, { targetType: "lambda", tags }, opts);
}

/** Inputs of {@link declareWaker}. */
export interface WakerArgs {
  /** Prefix of every resource name (the Fleet's name). */
  readonly name: string;
  /** The Fleet as parent, and its provider. */
  readonly opts: pulumi.CustomResourceOptions;
  readonly tags: Record<string, string>;
  /** The group's fixed name (the waker's GROUP_NAME and its function's name). */
  readonly groupName: string;
  readonly groupArn: pulumi.Input<string>;
  /** The forward rule the waker switches. */
  readonly ruleArn: pulumi.Input<string>;
  readonly replicasTargetGroupArn: pulumi.Input<string>;
  /** From {@link declareWakerTargetGroup}. */
  readonly wakerTargetGroup: aws.lb.TargetGroup;
  /** The API key's SecureString parameter. */
  readonly apiKeyParameter: aws.ssm.Parameter;
  /** Seconds a new replica takes to serve (the health-check grace period), told to waiting clients. */
  readonly readyEstimateSeconds: number;
}

/** What {@link declareWaker} declared that the Fleet wires further: the idle alarm notifies the topic. */
export interface Waker {
  readonly function: aws.lambda.Function;
  readonly topic: aws.sns.Topic;
}

/** The waker's function with its role and log group, its target, and the idle topic that invokes it. */
export function declareWaker(args: WakerArgs): Waker {
  const fn = declareFunction(args);
  const { name, opts, tags } = args;
  const fromAlb = new aws.lambda.Permission(
    `${name}-waker-alb`,
    {
      action: "lambda:InvokeFunction",
      function: fn.name,
      principal: "elasticloadbalancing.amazonaws.com",
      sourceArn: args.wakerTargetGroup.arn,
    },
    opts,
  );
  // Registering a Lambda target fails unless the load balancer may already invoke it (lambda-functions.html above).
  new aws.lb.TargetGroupAttachment(
    `${name}-waker-target`,
    { targetGroupArn: args.wakerTargetGroup.arn, targetId: fn.arn },
    { ...opts, dependsOn: [fromAlb] },
  );
  // No server-side encryption: CloudWatch alarms publish to an encrypted topic only when the key's policy grants
  // the CloudWatch service principal kms:GenerateDataKey* and kms:Decrypt, and the AWS managed key alias/aws/sns has
  // a policy nobody can change ("Enable compatibility between event sources from AWS services and encrypted topics",
  // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services, read
  // 2026-11-30). A customer managed key would cost $1 a month per stack to protect a message that says "idle".
  const topic = new aws.sns.Topic(`${name}-idle-topic`, { tags }, opts);
  const fromSns = new aws.lambda.Permission(
    `${name}-waker-sns`,
    { action: "lambda:InvokeFunction", function: fn.name, principal: "sns.amazonaws.com", sourceArn: topic.arn },
    opts,
  );
  new aws.sns.TopicSubscription(
    `${name}-waker-sub`,
    { topic: topic.arn, protocol: "lambda", endpoint: fn.arn },
    { ...opts, dependsOn: [fromSns] },
  );
  return { function: fn, topic };
}

/** The function, its role and inline policy, and its log group (which exists before the function can log). */
function declareFunction(args: WakerArgs): aws.lambda.Function {
  const { name, opts, tags } = args;
  const functionName = wakerFunctionName(args.groupName);
  const logGroup = new aws.cloudwatch.LogGroup(
    `${name}-waker-logs`,
    { name: `/aws/lambda/${functionName}`, retentionInDays: WAKER_LOG_RETENTION_DAYS, tags },
    opts,
  );
  const role = new aws.iam.Role(
    `${name}-waker-role`,
    {
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
      }),
      description: "qwen3-serve fleet waker",
      tags,
    },
    opts,
  );
  const policy = new aws.iam.RolePolicy(
    `${name}-waker-policy`,
    {
      role: role.name,
      policy: pulumi
        .all([logGroup.arn, args.groupArn, args.ruleArn, args.apiKeyParameter.arn])
        .apply(([logArn, group, rule, apiKeyParameter]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: wakerStatements({ logGroup: logArn, group, rule, apiKeyParameter }),
          }),
        ),
    },
    opts,
  );
  return new aws.lambda.Function(
    `${name}-waker`,
    {
      name: functionName,
      description: "qwen3-serve: answers 503 with Retry-After while the fleet is at zero, and wakes one replica",
      role: role.arn,
      runtime: "python3.12",
      handler: WAKER_HANDLER,
      code: new pulumi.asset.AssetArchive({ [WAKER_FILE]: new pulumi.asset.StringAsset(wakerCode()) }),
      memorySize: 128,
      timeout: 10,
      environment: {
        variables: {
          GROUP_NAME: args.groupName,
          RULE_ARN: args.ruleArn,
          REPLICAS_TG_ARN: args.replicasTargetGroupArn,
          WAKER_TG_ARN: args.wakerTargetGroup.arn,
          API_KEY_PARAMETER: args.apiKeyParameter.name,
          RETRY_AFTER_SECONDS: String(WAKER_RETRY_AFTER_SECONDS),
          READY_ESTIMATE_SECONDS: String(args.readyEstimateSeconds),
        },
      },
      tags,
    },
    // Its permissions before its first call: an invocation before the policy exists could neither log nor wake.
    { ...opts, dependsOn: [logGroup, policy] },
  );
}
