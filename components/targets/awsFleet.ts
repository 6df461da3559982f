/**
 * `qwen3-serve:aws:Fleet`: the plan's model on N replicas in an EC2 Auto Scaling group behind an
 * Application Load Balancer. Each replica is the single machine's bootstrap, proxy and watchdog (the
 * same SSM secrets, scoped role and launch templates, from ./awsShared.ts) in fleet mode. The load
 * balancer answers 401 itself to requests without a Bearer header and forwards the rest to the
 * replicas, which still check the key; the replicas accept the proxy port only from the load balancer.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  ALB_IDLE_TIMEOUT_SECONDS,
  autoScalingGroupName,
  DEREGISTRATION_DELAY_SECONDS,
  type FleetSettings,
  HEALTH_CHECK,
  healthCheckGraceSeconds,
  METRIC_NAMESPACE,
  QUEUE_METRIC,
  READY_URL_PATH,
  scalingMetric,
} from "../fleet/settings";
import { UserError } from "../errors/userError";
import { readinessTimeoutSeconds, STATUS_URL_PATH, type IdleSettings } from "../machine/render";
import type { Plan } from "../sizing/plan";
import { targetOutputs, TargetServer } from "./outputs";
import { declareReadinessWait } from "./readinessWait";
import { declareScaling, fleetInstanceStatements } from "./fleetScaling";
import { declareMirrorAccess } from "./awsMirror";
import { declareWaker, declareWakerTargetGroup } from "./fleetWaker";
import {
  type AwsMachineArgs,
  type AwsScope,
  awsScope,
  declareIdentity,
  declareSecrets,
  identityTags,
  launchTemplateFactory,
  network,
  userData,
  type ZoneSubnet,
} from "./awsShared";

/** Inputs of {@link Fleet}. */
export interface FleetArgs extends AwsMachineArgs {
  /** The plans of the candidate types in priority order (the plan, then its next alternatives), one market. */
  readonly plans: readonly Plan[];
  /** Replicas: min, max and the queue target of scaling. */
  readonly fleet: FleetSettings;
  /** The group's fixed name ({@link autoScalingGroupName}); the replicas' user data names it. */
  readonly autoScalingGroupName: string;
  /** CIDRs allowed to the load balancer's listener ports (already resolved, no "myip"). */
  readonly allowedCidrs: readonly string[];
  /** HTTPS on the load balancer: an ACM certificate for `domain`, validated and aliased in the Route 53 zone. */
  readonly tls?: { readonly domain: string; readonly hostedZoneId: string };
  /** The watchdog's idle rules (a replica never powers off: fleet mode only publishes and protects). */
  readonly idle: Omit<IdleSettings, "action" | "fromInstanceTags">;
  /** With minReplicas >= 1, wait in `pulumi up` until a real completion succeeds through the load balancer. */
  readonly waitForReady: boolean;
}

/** Shared by the component's steps. */
type Scope = AwsScope<FleetArgs>;

/** The body of the load balancer's 401, shaped like the proxy's own so clients see one error format. */
export const MISSING_KEY_BODY = JSON.stringify({
  error: { message: "missing or wrong API key", type: "authentication_error" },
});

/**
 * The header condition that forwards to the replicas. ALB header conditions match values with * and ?
 * wildcards, case-insensitively, and cannot test that a header is absent
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html, read
 * 2026-11-30), so the rule forwards when a Bearer value is present and the default action answers 401.
 */
export const FORWARD_CONDITION = { httpHeaderName: "Authorization", values: ["Bearer *"] } as const;

/**
 * TLS policy of the HTTPS listener: TLS 1.3 and 1.2 with forward secrecy only, AWS's recommended policy
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html, read 2026-11-30).
 */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/** The load balancer and what routes through it. */
interface Edge {
  readonly alb: aws.lb.LoadBalancer;
  readonly targetGroup: aws.lb.TargetGroup;
  /** The waker's Lambda target group, with minReplicas 0 only (./fleetWaker.ts). */
  readonly wakerTargetGroup: aws.lb.TargetGroup | undefined;
  readonly rule: aws.lb.ListenerRule;
  readonly baseUrl: pulumi.Output<string>;
}

/**
 * A fleet of GPU replicas behind one authenticated OpenAI-compatible endpoint (an ALB URL ending in /v1).
 *
 * Outputs beside the shared ones: `autoScalingGroupName`, `replicas` ({min, max, desired}: desired as the
 * group reports it, which scaling owns), `instanceTypes` (the candidates in priority order),
 * `pricePerReplicaHour` (per candidate type), `region`. The shared `instanceId` is the group's name,
 * `instanceType` and `pricePerHour` the first candidate's (per replica), `publicIp` is empty (the ALB has
 * no fixed address), and `connectCommand` / `portForwardCommand` open Session Manager on the group's first replica.
 */
export class Fleet extends TargetServer {
  /** The region every resource lives in. */
  readonly region: pulumi.Output<string>;
  /** The Auto Scaling group's name. */
  readonly autoScalingGroupName: pulumi.Output<string>;
  /** Min, max and the desired count the group reports. */
  readonly replicas: pulumi.Output<{ min: number; max: number; desired: number }>;
  /** The candidate types, in priority order. */
  readonly instanceTypes: pulumi.Output<string[]>;
  /** Each candidate's planned price per replica-hour. */
  readonly pricePerReplicaHour: pulumi.Output<Record<string, number>>;

  constructor(name: string, args: FleetArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:aws:Fleet", name, {}, opts);
    const [first] = args.plans;
    if (first === undefined) throw new Error("a fleet needs at least one candidate plan");
    // Fleet mode: the watchdog never powers a replica off (the group would replace it); its window is read from the env file.
    const scope: Scope = awsScope(this, name, args, { ...args.idle, action: "poweroff", fromInstanceTags: false });
    const secrets = declareSecrets(this, scope);
    const { role, profile } = declareIdentity(scope, secrets);
    // Replicas share their engine's compile cache through the mirror, so a scale-out skips torch.compile.
    const mirror =
      args.weightsMirror === undefined
        ? undefined
        : declareMirrorAccess(scope, role, args.plans, args.weightsMirror, { shareCompileCache: true });
    const net = network(
      scope,
      args.plans.map((p) => p.instance.type),
      undefined,
    );
    const { albSg, replicaSg } = this.declareSecurityGroups(scope, net.vpcId);
    const template = launchTemplateFactory(scope, {
      profile,
      securityGroup: replicaSg,
      stamped: () => ({ ...identityTags(scope), Name: `qwen3-serve-${name}` }),
      shutdownBehavior: () => "terminate",
      userData: (plan) =>
        userData(scope, secrets, plan, {
          fleet: (region) => ({
            region,
            autoScalingGroupName: args.autoScalingGroupName,
            metricNamespace: METRIC_NAMESPACE,
            queueMetric: QUEUE_METRIC,
            publishQueueMetric: scalingMetric(plan.engine) === "queue-depth",
            readyPath: READY_URL_PATH,
          }),
          ...(mirror !== undefined ? { mirror } : {}),
        }),
    });
    const templates = args.plans.map((p) => template(p, `lt-${p.instance.type.replace(/\./g, "-")}`));
    const subnets = albSubnets(net.subnets);
    const edge = this.declareEdge(scope, net.vpcId, subnets, albSg);
    const group = this.declareGroup(scope, templates, subnets, edge.targetGroup);
    // A second inline policy, after the group: it names the group's own ARN, which exists only then. Replicas
    // call these APIs once they serve, minutes after launch.
    new aws.iam.RolePolicy(
      `${name}-fleet`,
      {
        role: role.name,
        policy: pulumi
          .all([group.arn, scope.region])
          .apply(([arn, region]) =>
            JSON.stringify({ Version: "2012-10-17", Statement: fleetInstanceStatements(arn, region) }),
          ),
      },
      scope.parent,
    );
    const grace = healthCheckGraceSeconds(first, !scope.family.hasDriver);
    const waker =
      edge.wakerTargetGroup === undefined
        ? undefined
        : declareWaker({
            name,
            opts: scope.parent,
            tags: scope.tags,
            groupName: args.autoScalingGroupName,
            groupArn: group.arn,
            ruleArn: edge.rule.arn,
            replicasTargetGroupArn: edge.targetGroup.arn,
            wakerTargetGroup: edge.wakerTargetGroup,
            apiKeyParameter: secrets.apiKeyParam,
            readyEstimateSeconds: grace,
          });
    declareScaling({
      name,
      opts: scope.parent,
      tags: scope.tags,
      group,
      loadBalancerArnSuffix: edge.alb.arnSuffix,
      targetGroupArnSuffix: edge.targetGroup.arnSuffix,
      engine: first.engine,
      fleet: args.fleet,
      idleMinutes: args.idle.minutes,
      warmupSeconds: grace,
      // Going to zero also tells the waker to take over the forward rule.
      ...(waker !== undefined ? { idleAlarmActions: [waker.topic.arn] } : {}),
    });
    this.region = scope.region;
    this.autoScalingGroupName = group.name;
    this.instanceTypes = pulumi.output(args.plans.map((p) => p.instance.type));
    this.pricePerReplicaHour = pulumi.output(
      Object.fromEntries(args.plans.map((p) => [p.instance.type, p.instance.pricePerHour])),
    );
    this.replicas = group.desiredCapacity.apply((d) => ({
      min: args.fleet.minReplicas,
      max: args.fleet.maxReplicas,
      desired: d ?? args.fleet.minReplicas,
    }));
    this.declareOutputs(scope, secrets.key, edge, group, templates[0] as aws.ec2.LaunchTemplate, first);
  }

  /**
   * The load balancer's group (listener ports from allowedCidrs only, out only to the replicas' proxy port) and
   * the replicas' group (the proxy port only from the load balancer's group, all egress for downloads and SSM).
   * Rules are separate resources, so neither group carries inline rules that would fight them.
   */
  private declareSecurityGroups(
    { name, args, parent, tags }: Scope,
    vpcId: pulumi.Output<string>,
  ): { albSg: aws.ec2.SecurityGroup; replicaSg: aws.ec2.SecurityGroup } {
    const albSg = new aws.ec2.SecurityGroup(
      `${name}-alb-sg`,
      { vpcId, description: `qwen3-serve ${name}: load balancer, listener ports from the allowed CIDRs`, tags },
      parent,
    );
    const replicaSg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      { vpcId, description: `qwen3-serve ${name}: replicas, proxy port from the load balancer only`, tags },
      parent,
    );
    const ports = args.tls !== undefined ? [80, 443] : [80];
    for (const port of ports) {
      for (const [i, cidr] of args.allowedCidrs.entries()) {
        new aws.vpc.SecurityGroupIngressRule(
          `${name}-alb-${port}-${i}`,
          {
            securityGroupId: albSg.id,
            cidrIpv4: cidr,
            ipProtocol: "tcp",
            fromPort: port,
            toPort: port,
            description: "qwen3-serve endpoint",
            tags,
          },
          parent,
        );
      }
    }
    const proxy = { ipProtocol: "tcp", fromPort: args.proxyPort, toPort: args.proxyPort, tags };
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-alb-egress`,
      {
        securityGroupId: albSg.id,
        referencedSecurityGroupId: replicaSg.id,
        description: "to the replicas' proxy",
        ...proxy,
      },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-from-alb`,
      {
        securityGroupId: replicaSg.id,
        referencedSecurityGroupId: albSg.id,
        description: "from the load balancer",
        ...proxy,
      },
      parent,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-egress`,
      {
        securityGroupId: replicaSg.id,
        cidrIpv4: "0.0.0.0/0",
        ipProtocol: "-1",
        description: "downloads, SSM, CloudWatch, Auto Scaling, package mirrors",
        tags,
      },
      parent,
    );
    return { albSg, replicaSg };
  }

  /** The internet-facing ALB, the replicas' target group, the listener(s) with the 401 default, and the forward rule. */
  private declareEdge(
    scope: Scope,
    vpcId: pulumi.Output<string>,
    subnets: pulumi.Output<string[]>,
    albSg: aws.ec2.SecurityGroup,
  ): Edge {
    const { name, args, parent, tags } = scope;
    const alb = new aws.lb.LoadBalancer(
      `${name}-alb`,
      {
        loadBalancerType: "application",
        internal: false,
        securityGroups: [albSg.id],
        subnets,
        idleTimeout: ALB_IDLE_TIMEOUT_SECONDS,
        // Malformed headers never reach a replica's nginx.
        dropInvalidHeaderFields: true,
        tags,
      },
      parent,
    );
    const targetGroup = new aws.lb.TargetGroup(
      `${name}-tg`,
      {
        vpcId,
        targetType: "instance",
        protocol: "HTTP",
        port: args.proxyPort,
        loadBalancingAlgorithmType: "least_outstanding_requests",
        deregistrationDelay: DEREGISTRATION_DELAY_SECONDS,
        healthCheck: {
          enabled: true,
          protocol: "HTTP",
          port: "traffic-port",
          path: HEALTH_CHECK.path,
          matcher: HEALTH_CHECK.matcher,
          interval: HEALTH_CHECK.intervalSeconds,
          timeout: HEALTH_CHECK.timeoutSeconds,
          healthyThreshold: HEALTH_CHECK.healthyThreshold,
          unhealthyThreshold: HEALTH_CHECK.unhealthyThreshold,
        },
        tags,
      },
      parent,
    );
    const unauthorized = {
      type: "fixed-response",
      fixedResponse: { contentType: "application/json", statusCode: "401", messageBody: MISSING_KEY_BODY },
    };
    const listener =
      args.tls === undefined
        ? new aws.lb.Listener(
            `${name}-http`,
            { loadBalancerArn: alb.arn, port: 80, protocol: "HTTP", defaultActions: [unauthorized], tags },
            parent,
          )
        : this.declareHttps(scope, alb, args.tls, unauthorized);
    const wakerTargetGroup = args.fleet.minReplicas === 0 ? declareWakerTargetGroup(name, parent, tags) : undefined;
    const rule = new aws.lb.ListenerRule(
      `${name}-forward`,
      {
        listenerArn: listener.arn,
        priority: 10,
        conditions: [{ httpHeader: { ...FORWARD_CONDITION, values: [...FORWARD_CONDITION.values] } }],
        // A new fleet that may be empty starts at zero: its keyed requests go to the waker.
        actions: [{ type: "forward", targetGroupArn: (wakerTargetGroup ?? targetGroup).arn }],
        tags,
      },
      wakerTargetGroup === undefined
        ? parent
        : {
            ...parent,
            // The waker switches the rule between the two target groups at run time; `pulumi up` must not switch it
            // back. The rule names both, so destroy deletes it before either group whichever it forwards to then.
            ignoreChanges: ["actions"],
            dependsOn: [targetGroup, wakerTargetGroup],
          },
    );
    const baseUrl =
      args.tls === undefined ? pulumi.interpolate`http://${alb.dnsName}` : pulumi.output(`https://${args.tls.domain}`);
    return { alb, targetGroup, wakerTargetGroup, rule, baseUrl };
  }

  /**
   * HTTPS: an ACM certificate validated by DNS records in the hosted zone, a 443 listener with it, port 80
   * redirecting to 443, and an alias record for the domain on the load balancer.
   */
  private declareHttps(
    { name, parent, tags }: Scope,
    alb: aws.lb.LoadBalancer,
    tls: { readonly domain: string; readonly hostedZoneId: string },
    unauthorized: aws.types.input.lb.ListenerDefaultAction,
  ): aws.lb.Listener {
    const cert = new aws.acm.Certificate(
      `${name}-cert`,
      { domainName: tls.domain, validationMethod: "DNS", tags },
      parent,
    );
    // One name, so one validation record (ACM gives each domain name of the certificate its own CNAME).
    const option = cert.domainValidationOptions.apply((o) => o[0]);
    const record = new aws.route53.Record(
      `${name}-cert-validation`,
      {
        zoneId: tls.hostedZoneId,
        name: option.apply((o) => o?.resourceRecordName ?? ""),
        type: option.apply((o) => o?.resourceRecordType ?? "CNAME"),
        records: [option.apply((o) => o?.resourceRecordValue ?? "")],
        ttl: 60,
        allowOverwrite: true,
      },
      parent,
    );
    const validated = new aws.acm.CertificateValidation(
      `${name}-cert`,
      { certificateArn: cert.arn, validationRecordFqdns: [record.fqdn] },
      parent,
    );
    new aws.route53.Record(
      `${name}-dns`,
      {
        zoneId: tls.hostedZoneId,
        name: tls.domain,
        type: "A",
        aliases: [{ name: alb.dnsName, zoneId: alb.zoneId, evaluateTargetHealth: false }],
      },
      parent,
    );
    new aws.lb.Listener(
      `${name}-http`,
      {
        loadBalancerArn: alb.arn,
        port: 80,
        protocol: "HTTP",
        defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }],
        tags,
      },
      parent,
    );
    return new aws.lb.Listener(
      `${name}-https`,
      {
        loadBalancerArn: alb.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: TLS_POLICY,
        certificateArn: validated.certificateArn,
        defaultActions: [unauthorized],
        tags,
      },
      parent,
    );
  }

  /**
   * The Auto Scaling group: every candidate's launch template in priority order, in the subnets of every zone that
   * offers one, health from the load balancer after the plan's readiness estimate, rolling instance refresh, and
   * desiredCapacity left to scaling after creation.
   */
  private declareGroup(
    scope: Scope,
    templates: readonly aws.ec2.LaunchTemplate[],
    subnets: pulumi.Output<string[]>,
    targetGroup: aws.lb.TargetGroup,
  ): aws.autoscaling.Group {
    const { name, args, parent, family, tags } = scope;
    const first = args.plans[0] as Plan;
    const spot = first.instance.market === "spot";
    const spec = (
      lt: aws.ec2.LaunchTemplate,
    ): { launchTemplateId: pulumi.Output<string>; version: pulumi.Output<string> } => ({
      launchTemplateId: lt.id,
      version: lt.latestVersion.apply(String),
    });
    const keep = args.fleet.minReplicas >= 1;
    return new aws.autoscaling.Group(
      `${name}-asg`,
      {
        name: args.autoScalingGroupName,
        minSize: args.fleet.minReplicas,
        maxSize: args.fleet.maxReplicas,
        desiredCapacity: args.fleet.minReplicas,
        vpcZoneIdentifiers: subnets,
        targetGroupArns: [targetGroup.arn],
        healthCheckType: "ELB",
        healthCheckGracePeriod: healthCheckGraceSeconds(first, !family.hasDriver),
        capacityRebalance: spot,
        mixedInstancesPolicy: {
          instancesDistribution: spot
            ? {
                onDemandAllocationStrategy: "prioritized",
                // One on-demand replica under the kept ones, so a spot reclaim never empties a fleet meant to stay up.
                onDemandBaseCapacity: keep ? 1 : 0,
                onDemandPercentageAboveBaseCapacity: 0,
                spotAllocationStrategy: "price-capacity-optimized",
              }
            : {
                onDemandAllocationStrategy: "prioritized",
                onDemandBaseCapacity: 0,
                onDemandPercentageAboveBaseCapacity: 100,
              },
          launchTemplate: {
            launchTemplateSpecification: spec(templates[0] as aws.ec2.LaunchTemplate),
            // Override order is the priority of "prioritized"; each type launches from its own template (its serve command).
            overrides: templates.map((lt, i) => ({
              instanceType: args.plans[i]?.instance.type ?? "",
              launchTemplateSpecification: spec(lt),
            })),
          },
        },
        // A new template version (a changed plan or bootstrap) starts a refresh. Launch before terminate (max 200%)
        // keeps every serving replica until its replacement is healthy; protected (busy) replicas are waited for,
        // not skipped (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html, read 2026-11-30).
        instanceRefresh: {
          strategy: "Rolling",
          preferences: {
            minHealthyPercentage: 100,
            maxHealthyPercentage: 200,
            scaleInProtectedInstances: "Wait",
            standbyInstances: "Wait",
          },
        },
        tags: Object.entries({ ...tags, ...identityTags(scope), Name: `qwen3-serve-${name}` }).map(([key, value]) => ({
          key,
          value,
          propagateAtLaunch: true,
        })),
      },
      { ...parent, ignoreChanges: ["desiredCapacity"] },
    );
  }

  /** The readiness wait (minReplicas >= 1 only) and the outputs. */
  private declareOutputs(
    scope: Scope,
    key: pulumi.Output<string>,
    edge: Edge,
    group: aws.autoscaling.Group,
    template: aws.ec2.LaunchTemplate,
    plan: Plan,
  ): void {
    const { name, args, family, region } = scope;
    const waits = args.waitForReady && args.fleet.minReplicas >= 1;
    if (args.waitForReady && !waits)
      pulumi.log.info(
        `${name}: not waiting for readiness: minReplicas is 0, so no replica runs until a request wakes the fleet.`,
        this,
      );
    const ready = waits
      ? declareReadinessWait(
          name,
          {
            baseUrl: edge.baseUrl,
            apiKey: key,
            model: plan.serve.servedModelName,
            timeoutSeconds: readinessTimeoutSeconds(plan, !family.hasDriver),
            hasStatus: true,
            // Once per group and per template version: a refresh rolls new replicas in.
            triggers: [group.name, template.latestVersion],
          },
          { parent: this, dependsOn: [group, edge.rule] },
        )
      : pulumi.output("not waited");
    const query = "--query 'AutoScalingGroups[0].Instances[0].InstanceId' --output text";
    const describe = "aws autoscaling describe-auto-scaling-groups";
    const firstReplica = pulumi.interpolate`$(${describe} --region ${region} --auto-scaling-group-names ${group.name} ${query})`;
    const session = pulumi.interpolate`aws ssm start-session --region ${region} --target ${firstReplica}`;
    const forward = `--parameters portNumber=${args.proxyPort},localPortNumber=${args.proxyPort}`;
    const outputs = targetOutputs({
      baseUrl: edge.baseUrl,
      readyWhen: ready,
      modelName: plan.serve.servedModelName,
      apiKey: key,
      instanceId: group.name,
      publicIp: "",
      instanceType: plan.instance.type,
      pricePerHour: plan.instance.pricePerHour,
      amiId: template.imageId.apply((i) => i ?? ""),
      connectCommand: session,
      portForwardCommand: pulumi.interpolate`${session} --document-name AWS-StartPortForwardingSession ${forward}`,
      statusUrl: pulumi.interpolate`${edge.baseUrl}${STATUS_URL_PATH}`,
    });
    this.finish(outputs, {
      region,
      autoScalingGroupName: this.autoScalingGroupName,
      replicas: this.replicas,
      instanceTypes: this.instanceTypes,
      pricePerReplicaHour: this.pricePerReplicaHour,
    });
  }
}

/**
 * The load balancer's and the group's subnets: the default subnet of every zone offering a candidate. An ALB
 * needs subnets in at least two zones (CreateLoadBalancer, Subnets:
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html, read 2026-11-30).
 */
function albSubnets(subnets: pulumi.Output<ZoneSubnet[]>): pulumi.Output<string[]> {
  return subnets.apply((list) => {
    const zones = new Set(list.map((s) => s.zone));
    if (zones.size < 2)
      throw new UserError({
        key: "fleet",
        value: `${zones.size} zone(s)`,
        problem: `a fleet's load balancer needs default subnets in two zones offering its types; found ${[...zones].join(", ") || "none"}.`,
        hint: "Deploy in a region where more zones offer the planned types (aws.region), or widen the candidates (aws.fallbackTypes).",
      });
    return list.map((s) => s.id);
  });
}
