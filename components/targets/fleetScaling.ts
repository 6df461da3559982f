/**
 * The fleet's scaling pieces, declared by `qwen3-serve:aws:Fleet` with itself as parent: target tracking on
 * the replicas' queue (vLLM, SGLang) or on ALB requests per target (Ollama), and with minReplicas 0 an idle
 * alarm that takes the group to zero and a wake alarm that brings one replica back; plus the statements the
 * replicas' role needs beyond a single machine's. Plain functions, no component of their own, so the
 * resources keep the Fleet's provider and their names stay the Fleet's.
 *
 * How the pieces keep out of each other's way (sources beside each function, all read 2026-11-30):
 * - Target tracking scales in to zero on its own when its metric reads 0 and the group's minimum is 0 (it
 *   does so by design for ALBRequestCountPerTarget, which emits zeros), which would ignore idleMinutes. With
 *   minReplicas 0 it therefore tracks the metric with its zero minutes dropped: every datapoint it sees is
 *   above 0, so its proportional answer ceil(replicas * value / target) is at least 1, and an idle minute is
 *   missing data, on which target tracking does not scale in. Zero is the idle alarm's alone.
 * - The idle alarm counts requests the ALB routed and requests it turned away for want of a target: a
 *   request to an empty fleet is activity, so the wake it causes is not undone by an idle alarm still in
 *   ALARM (CloudWatch re-runs Auto Scaling actions every minute while an alarm stays in ALARM).
 * - The wake policy adds one replica rather than setting an exact count, so it can never shrink a running
 *   fleet; its warm-up makes the 503s that keep coming while the replica loads count as one step.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { EngineName } from "../engines";
import { type FleetSettings, METRIC_NAMESPACE, QUEUE_METRIC, scalingMetric } from "../fleet/settings";

/** One IAM policy statement, as the instance role's policy document holds it. */
export interface IamStatement {
  readonly Sid: string;
  readonly Effect: "Allow";
  readonly Action: readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/**
 * The ARN of the group named `groupName`, with its AWS-assigned id as a wildcard, so the role's policy can
 * name the group before it exists. Group names are unique per account and region, so this matches this group
 * only. Form: arn:${Partition}:autoscaling:${Region}:${Account}:autoScalingGroup:${GroupId}:autoScalingGroupName/
 * ${GroupFriendlyName} (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html,
 * read 2026-11-30). Commercial partition only.
 */
export function autoScalingGroupArnFor(region: string, accountId: string, groupName: string): string {
  return `arn:aws:autoscaling:${region}:${accountId}:autoScalingGroup:*:autoScalingGroupName/${groupName}`;
}

/**
 * What the replicas' role needs beyond a single machine's: publishing the queue metric, and toggling scale-in
 * protection on this group only. PutMetricData supports no resource-level permissions (Resource must be "*"),
 * but its cloudwatch:namespace condition key limits it to our namespace
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html and
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html);
 * SetInstanceProtection requires the autoScalingGroup resource (list_amazonec2autoscaling.html above); both
 * read 2026-11-30. Throws when the ARN is not one group's ARN in `region`, so a typo cannot widen the grant.
 */
export function fleetInstanceStatements(autoScalingGroupArn: string, region: string): IamStatement[] {
  assertGroupArn(autoScalingGroupArn, region);
  return [
    {
      Sid: "PublishQueueMetric",
      Effect: "Allow",
      Action: ["cloudwatch:PutMetricData"],
      Resource: "*",
      Condition: { StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } },
    },
    {
      Sid: "ProtectWhileServing",
      Effect: "Allow",
      Action: ["autoscaling:SetInstanceProtection"],
      Resource: [autoScalingGroupArn],
    },
  ];
}

/** Throw unless `arn` names one Auto Scaling group (a literal name, no wildcard) in `region`. */
function assertGroupArn(arn: string, region: string): void {
  const [scheme, partition, service, arnRegion, account, kind, id, named, ...rest] = arn.split(":");
  const name = named?.startsWith("autoScalingGroupName/") ? named.slice("autoScalingGroupName/".length) : "";
  const ok =
    scheme === "arn" &&
    partition?.startsWith("aws") === true &&
    service === "autoscaling" &&
    arnRegion === region &&
    /^\d{12}$/.test(account ?? "") &&
    kind === "autoScalingGroup" &&
    (id ?? "") !== "" &&
    name !== "" &&
    !name.includes("*") &&
    rest.length === 0;
  if (!ok)
    throw new Error(`fleetInstanceStatements: ${JSON.stringify(arn)} is not an Auto Scaling group ARN in ${region}`);
}

/**
 * Seconds an Ollama request is assumed to take, to turn targetQueuePerReplica (requests in flight) into the
 * requests per minute that ALBRequestCountPerTarget counts: by Little's law, in flight = rate * duration. A
 * chat answer of a few hundred tokens at the plan's 20 tokens/s floor takes 15 to 30 s; taking the long end
 * means shorter requests scale out early rather than queue.
 */
const OLLAMA_ASSUMED_REQUEST_SECONDS = 30;

/** Ollama's target: requests per replica per minute that keep about targetQueuePerReplica in flight. */
export function ollamaRequestsPerMinuteTarget(targetQueuePerReplica: number): number {
  return (targetQueuePerReplica * 60) / OLLAMA_ASSUMED_REQUEST_SECONDS;
}

/** Inputs of {@link declareScaling}. */
export interface ScalingArgs {
  /** Prefix of every resource name (the Fleet's name). */
  readonly name: string;
  /** The Fleet as parent, and its provider. */
  readonly opts: pulumi.CustomResourceOptions;
  /** Tags for the alarms (scaling policies take none). */
  readonly tags: Record<string, string>;
  /** The Auto Scaling group (the policies name it; the target group must be attached to it for Ollama's label). */
  readonly group: { readonly name: pulumi.Input<string> };
  /** The load balancer's ARN suffix (app/<name>/<id>), its CloudWatch dimension. */
  readonly loadBalancerArnSuffix: pulumi.Input<string>;
  /** The target group's ARN suffix (targetgroup/<name>/<id>), its CloudWatch dimension. */
  readonly targetGroupArnSuffix: pulumi.Input<string>;
  /** The serving engine: it picks the tracked metric ({@link scalingMetric}). */
  readonly engine: EngineName;
  /** The `fleet` block: minReplicas 0 adds the zero pieces; targetQueuePerReplica sets the target. */
  readonly fleet: FleetSettings;
  /** Minutes without a request before a minReplicas-0 fleet goes to zero; null: never. */
  readonly idleMinutes: number | null;
  /** Seconds a new replica takes to serve (the health-check grace period): its warm-up in every policy. */
  readonly warmupSeconds: number;
  /**
   * Actions the idle alarm runs beside its policy (the waker's SNS topic, ./fleetWaker.ts). CloudWatch runs them
   * on the change to ALARM only, unlike the scaling action it re-runs each minute (alarm-actions.html, see stepPolicy).
   */
  readonly idleAlarmActions?: readonly pulumi.Input<string>[];
}

/** A step policy and the alarm that runs it. */
export interface AlarmedPolicy {
  readonly policy: aws.autoscaling.Policy;
  readonly alarm: aws.cloudwatch.MetricAlarm;
}

/** What {@link declareScaling} declared; idle and wake only for minReplicas 0. */
export interface FleetScaling {
  readonly tracking: aws.autoscaling.Policy;
  readonly idle: AlarmedPolicy | null;
  readonly wake: AlarmedPolicy | null;
}

/** Declare the fleet's target tracking, and with minReplicas 0 its idle-to-zero and wake-from-zero pieces. */
export function declareScaling(args: ScalingArgs): FleetScaling {
  const toZero = args.fleet.minReplicas === 0;
  return {
    tracking: declareTracking(args, toZero),
    idle: toZero && args.idleMinutes !== null ? declareIdle(args, args.idleMinutes) : null,
    wake: toZero ? declareWake(args) : null,
  };
}

/** The ALB's own metrics: namespace and the load balancer dimension (ELB's docs name it LoadBalancer). */
const ALB_NAMESPACE = "AWS/ApplicationELB";

/**
 * Target tracking on the queue (vLLM, SGLang) or on requests per target (Ollama). The queue metric is one
 * datapoint per replica with dimension AutoScalingGroupName, so its Average is the per-replica load that
 * target tracking needs ("The metric value must increase or decrease proportionally to the number of
 * instances": https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html, read
 * 2026-11-30). With minReplicas 0, see {@link busyOnly}.
 */
function declareTracking(args: ScalingArgs, toZero: boolean): aws.autoscaling.Policy {
  const queue = scalingMetric(args.engine) === "queue-depth";
  const config: aws.types.input.autoscaling.PolicyTargetTrackingConfiguration = queue
    ? {
        targetValue: args.fleet.targetQueuePerReplica,
        customizedMetricSpecification: toZero
          ? busyOnly(METRIC_NAMESPACE, QUEUE_METRIC, { AutoScalingGroupName: args.group.name }, "Average")
          : {
              namespace: METRIC_NAMESPACE,
              metricName: QUEUE_METRIC,
              metricDimensions: [{ name: "AutoScalingGroupName", value: args.group.name }],
              statistic: "Average",
            },
      }
    : {
        targetValue: ollamaRequestsPerMinuteTarget(args.fleet.targetQueuePerReplica),
        ...(toZero
          ? { customizedMetricSpecification: requestsPerTargetBusyOnly(args) }
          : { predefinedMetricSpecification: albRequestsPerTarget(args) }),
      };
  return new aws.autoscaling.Policy(
    `${args.name}-scale`,
    {
      autoscalingGroupName: args.group.name,
      policyType: "TargetTrackingScaling",
      estimatedInstanceWarmup: args.warmupSeconds,
      targetTrackingConfiguration: config,
    },
    args.opts,
  );
}

/**
 * ALBRequestCountPerTarget for this load balancer's target group; its resource label is
 * app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>, the two ARN suffixes joined
 * (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PredefinedMetricSpecification.html, read 2026-11-30).
 */
function albRequestsPerTarget(
  args: ScalingArgs,
): aws.types.input.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecification {
  return {
    predefinedMetricType: "ALBRequestCountPerTarget",
    resourceLabel: pulumi.interpolate`${args.loadBalancerArnSuffix}/${args.targetGroupArnSuffix}`,
  };
}

/**
 * The ALB's per-target request count as a plain CloudWatch metric (what ALBRequestCountPerTarget reads:
 * RequestCountPerTarget, dimensions LoadBalancer and TargetGroup, "The only valid statistic is Sum";
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html,
 * read 2026-11-30), with its zero minutes dropped.
 */
function requestsPerTargetBusyOnly(
  args: ScalingArgs,
): aws.types.input.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecification {
  const dimensions = { LoadBalancer: args.loadBalancerArnSuffix, TargetGroup: args.targetGroupArnSuffix };
  return busyOnly(ALB_NAMESPACE, "RequestCountPerTarget", dimensions, "Sum");
}

/**
 * A metric with its zero datapoints dropped (IF without a false value drops the datapoint:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html, "Using IF
 * expressions"), for a minReplicas-0 fleet. "A target tracking scaling policy does not scale in your Auto
 * Scaling group when the specified metric has insufficient data, unless you use the ALBRequestCountPerTarget
 * metric ... [which] emits zeros ... To have your Auto Scaling group scale in to 0 instances ... the group's
 * minimum capacity must be set to 0" (as-scaling-target-tracking.md above; metric math in target tracking:
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-target-tracking-metric-math.html; both
 * read 2026-11-30). So tracking scales in on busy minutes only, never below one replica, and zero stays the idle
 * alarm's decision, after idleMinutes.
 */
function busyOnly(
  namespace: string,
  metricName: string,
  dimensions: Record<string, pulumi.Input<string>>,
  stat: string,
): aws.types.input.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecification {
  return {
    metrics: [
      {
        id: "load",
        metricStat: {
          metric: {
            namespace,
            metricName,
            dimensions: Object.entries(dimensions).map(([name, value]) => ({ name, value })),
          },
          stat,
        },
        returnData: false,
      },
      { id: "busy", label: `${metricName} in minutes above zero`, expression: "IF(load > 0, load)", returnData: true },
    ],
  };
}

/**
 * The alarm's period and evaluation periods for `idleMinutes`. CloudWatch caps an alarm's range at one day for
 * periods under an hour and at seven days otherwise (PutMetricAlarm, Period:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html, read 2026-11-30),
 * and idleMinutes goes to 10,080: past a day the alarm counts whole hours, rounding the wait up.
 */
export function idleWindow(idleMinutes: number): { periodSeconds: number; evaluationPeriods: number } {
  return idleMinutes <= 24 * 60
    ? { periodSeconds: 60, evaluationPeriods: idleMinutes }
    : { periodSeconds: 3600, evaluationPeriods: Math.ceil(idleMinutes / 60) };
}

/**
 * The idle alarm and its policy, setting the group to exactly 0. "Elastic Load Balancing reports metrics to
 * CloudWatch only when requests are flowing through the load balancer", and RequestCount is "only incremented
 * for requests where the load balancer node was able to choose a target" and "Reported if there are registered
 * targets" (load-balancer-cloudwatch-metrics.html above): an idle ALB and an empty fleet publish nothing, so
 * missing data breaches. The sum adds the 503s of requests to an empty fleet (HTTPCode_ELB_503_Count; missing
 * values in arithmetic count as 0, using-metric-math.html above), so a wake request is activity. Requests the
 * listener rejects with its fixed 401 count in neither, so scanners keep nothing awake.
 */
function declareIdle(args: ScalingArgs, idleMinutes: number): AlarmedPolicy {
  const policy = stepPolicy(args, `${args.name}-idle-to-zero`, "ExactCapacity", {
    metricIntervalUpperBound: "0",
    scalingAdjustment: 0,
  });
  const { periodSeconds, evaluationPeriods } = idleWindow(idleMinutes);
  const alb = (metricName: string) => ({
    namespace: ALB_NAMESPACE,
    metricName,
    dimensions: { LoadBalancer: args.loadBalancerArnSuffix },
    period: periodSeconds,
    stat: "Sum",
  });
  const alarm = new aws.cloudwatch.MetricAlarm(
    `${args.name}-idle`,
    {
      alarmDescription: `No request at the load balancer for ${idleMinutes} minutes: the fleet goes to zero replicas.`,
      metricQueries: [
        { id: "routed", metric: alb("RequestCount"), returnData: false },
        { id: "unrouted", metric: alb("HTTPCode_ELB_503_Count"), returnData: false },
        {
          id: "requests",
          label: "Requests routed or turned away for want of a replica",
          expression: "routed + unrouted",
          returnData: true,
        },
      ],
      comparisonOperator: "LessThanThreshold",
      threshold: 1,
      evaluationPeriods,
      treatMissingData: "breaching",
      alarmActions: [policy.arn, ...(args.idleAlarmActions ?? [])],
      tags: args.tags,
    },
    args.opts,
  );
  return { policy, alarm };
}

/**
 * The wake alarm and its policy. A request to a fleet with no registered target gets the ALB's own 503 ("The
 * target groups for the load balancer have no registered targets":
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html, read
 * 2026-11-30). HTTPCode_ELB_503_Count has the LoadBalancer dimension only, and no ALB metric counts "no healthy
 * target" alone: with targets registered but unhealthy the ALB fails open and routes to them
 * (target-group-health-checks.html, same date), so its own 503 is the empty fleet's signal.
 * ExactCapacity 1 would shrink a fleet already at 2 or more; ChangeInCapacity +1 cannot, and a step policy
 * counts a replica still warming up toward the step ("multiple alarm breaches that fall in the range of the same
 * step adjustment result in a single scaling activity":
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html, read 2026-11-30), so the
 * 503s that keep coming while it loads add nothing more. A 503 at a running fleet (all replicas deregistering)
 * adds one replica, which target tracking later removes.
 */
function declareWake(args: ScalingArgs): AlarmedPolicy {
  const policy = stepPolicy(args, `${args.name}-wake-one`, "ChangeInCapacity", {
    metricIntervalLowerBound: "0",
    scalingAdjustment: 1,
  });
  const alarm = new aws.cloudwatch.MetricAlarm(
    `${args.name}-wake`,
    {
      alarmDescription: "A request found no replica to serve it: one replica starts.",
      namespace: ALB_NAMESPACE,
      metricName: "HTTPCode_ELB_503_Count",
      dimensions: { LoadBalancer: args.loadBalancerArnSuffix },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold",
      threshold: 1,
      // No 503 publishes no datapoint: that is the normal, quiet state.
      treatMissingData: "notBreaching",
      alarmActions: [policy.arn],
      tags: args.tags,
    },
    args.opts,
  );
  return { policy, alarm };
}

/**
 * A step policy with one step. Step scaling rather than simple: it takes no cooldown, so an alarm that stays in
 * ALARM re-runs it every minute ("Except for Auto Scaling actions, the actions happen only on state
 * transitions": https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-actions.html, read
 * 2026-11-30), and bounds are relative to the alarm's threshold (as-scaling-simple-step.md above).
 */
function stepPolicy(
  args: ScalingArgs,
  name: string,
  adjustmentType: "ExactCapacity" | "ChangeInCapacity",
  step: aws.types.input.autoscaling.PolicyStepAdjustment,
): aws.autoscaling.Policy {
  return new aws.autoscaling.Policy(
    name,
    {
      autoscalingGroupName: args.group.name,
      policyType: "StepScaling",
      adjustmentType,
      estimatedInstanceWarmup: args.warmupSeconds,
      stepAdjustments: [step],
    },
    args.opts,
  );
}
