/**
 * `qwen3-serve:aws:GpuServer`: one right-sized, locked-down GPU instance that boots into the
 * bootstrap and serves the plan's model behind an API key. Creates the API key, its SSM
 * SecureString parameters, the idle watchdog's String parameters, a scoped instance role, a
 * security group with only the ingress asked for, one launch template per candidate type (IMDSv2,
 * encrypted gp3 root), an EC2 Fleet of type instant that launches the first candidate × zone with
 * capacity, an Elastic IP for a public endpoint, the readiness wait and a destroy-time wait for the
 * machine's termination; every AWS resource and lookup goes through one provider (aws.region when set).
 */
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { gzipSync } from "node:zlib";
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { UserError } from "../errors/userError";
import { renderCloudInit, readinessTimeoutSeconds, STATUS_URL_PATH, type IdleSettings } from "../machine/render";
import type { Plan } from "../sizing/plan";
import { idleScriptSsm, machineFiles } from "../machine/assets";
import { nodeScriptCommand } from "../machine/nodeScript";
import { spotStopRefusal } from "../config/schema";
import { declareApiKey } from "./apiKey";
import { targetOutputs, targetOutputsOf, TargetServer } from "./outputs";
import { declareReadinessWait } from "./readinessWait";
import { terminationEnv } from "./awsTermination";

/** Inputs of {@link GpuServer}. */
export interface GpuServerArgs {
  /** The sizing decision of the first choice; instance type, disk and serve command come from it. */
  readonly plan: Plan;
  /** Plans of the types the fleet falls back to when the first has no capacity, in priority order (same market). */
  readonly fallbackPlans?: readonly Plan[];
  /** Spot only: on-demand plans for a second fleet, declared when the spot fleet launched nothing. */
  readonly onDemandFallbackPlans?: readonly Plan[];
  /** The generation tag of a new launch; default the current time (see {@link GpuServer}). */
  readonly generation?: string;
  /** Image family (Deep Learning AMI or plain Ubuntu). */
  readonly amiFamily: AmiFamilyName;
  /** Exact AMI to use; otherwise the family's latest, resolved once and kept on later updates. */
  readonly amiId?: string;
  /** Subnet (type fallback only); default: the default VPC's default subnets in every zone offering a candidate. */
  readonly subnetId?: string;
  /** CIDRs allowed to the proxy port (already resolved, no "myip"); empty with `private`. */
  readonly allowedCidrs: readonly string[];
  /** No public IP and no ingress; reach it through SSM port forwarding. */
  readonly private: boolean;
  /** SSH with an EC2 key pair from these CIDRs. */
  readonly ssh?: { readonly keyName: string; readonly allowedCidrs: readonly string[] };
  /** Public port of the authenticating proxy. */
  readonly proxyPort: number;
  /**
   * HTTPS for this name; with a hosted zone the A record is created too. Port 80 opens to the internet for ACME
   * (the config requires tls.openPort80ForAcme).
   */
  readonly tls?: { readonly domain: string; readonly email: string; readonly hostedZoneId?: string | undefined };
  /** gp3 root performance and extra size. */
  readonly rootVolume: { readonly throughputMiBps: number; readonly iops: number; readonly extraGiB: number };
  /** What an OS-initiated shutdown (the idle watchdog) does. */
  readonly shutdownBehavior: "stop" | "terminate";
  /** The idle watchdog: it powers the machine off, which shutdownBehavior turns into stop or terminate. */
  readonly idle: GpuServerIdle;
  /** Pin the engine image digest. */
  readonly engineImageDigest?: string;
  /** Hugging Face token for gated repos (secret). */
  readonly hfToken?: pulumi.Input<string>;
  /** Wait in `pulumi up` until a real completion succeeds. */
  readonly waitForReady: boolean;
  /** Prefix of the SSM parameter names; default /qwen3-serve/<project>/<stack>/<name> ({@link defaultParameterPrefix}). */
  readonly parameterPrefix?: string;
  /** Tags for every resource; default none besides the watchdog's and Name. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Region for every AWS resource and lookup (an explicit provider); otherwise the default provider's (aws:region). */
  readonly region?: string;
}

/**
 * The watchdog's settings on AWS. `action` defaults to `poweroff` (the machine stops or terminates as
 * shutdownBehavior says). `fromInstanceTags` defaults to true: the component tags the instance with
 * the window, TTL and SSH rule ({@link watchdogTags}) and the watchdog reads them from instance
 * metadata each minute, so changing them updates the running machine instead of replacing it.
 */
export type GpuServerIdle = Omit<IdleSettings, "action" | "fromInstanceTags"> &
  Partial<Pick<IdleSettings, "action" | "fromInstanceTags">>;

/**
 * The SSM prefix when the caller gives none: /qwen3-serve/<project>/<stack>/<name>, unique per
 * component in an account and region. Each part keeps only the characters SSM allows in a name
 * (a-zA-Z0-9_.- between slashes); the fixed first part also keeps clear of the reserved "aws" and
 * "ssm" prefixes (PutParameter Name, "Naming Constraints":
 * https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/ssm/aws.sdk.kotlin.services.ssm.model/-put-parameter-request/name.html,
 * read 2026-11-30).
 */
export function defaultParameterPrefix(name: string): string {
  const part = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, "-");
  return `/qwen3-serve/${part(pulumi.getProject())}/${part(pulumi.getStack())}/${part(name)}`;
}

/** The instance tags idle.py reads through instance metadata (components/machine/idle.py, imds_tags). */
export function watchdogTags(idle: GpuServerIdle): Record<string, string> {
  return {
    "qwen3-serve:idle-minutes": idle.minutes === null ? "off" : String(idle.minutes),
    ...(idle.countSsh ? { "qwen3-serve:idle-counts-ssh": "true" } : {}),
    ...(idle.ttlHours !== null ? { "qwen3-serve:ttl-hours": String(idle.ttlHours) } : {}),
  };
}

/**
 * What the SSM Agent needs for Session Manager (shell and port forwarding), and nothing else: the
 * policy AWS documents as the Session Manager minimum ("Step 2: Verify or add instance permissions
 * for Session Manager", and the managed policy AWSCloud9SSMInstanceProfile, which is exactly this;
 * https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSCloud9SSMInstanceProfile.html,
 * read 2026-11-30). AmazonSSMManagedInstanceCore, used before, also allows ssm:GetParameter(s) on
 * every parameter in the account, hence every other stack's API key and HF token.
 */
export const SESSION_MANAGER_ACTIONS = [
  "ssm:UpdateInstanceInformation",
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
] as const;

/** The instance role's one inline policy: Session Manager, its own parameters (secrets and idle.py), and a Deny on every other parameter. */
export function instancePolicy(parameterArns: readonly string[]): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Sid: "SessionManager", Effect: "Allow", Action: [...SESSION_MANAGER_ACTIONS], Resource: "*" },
      // SecureStrings use the AWS-managed aws/ssm key, whose key policy lets SSM decrypt for callers allowed to read the parameter.
      { Sid: "ReadOwnParameters", Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [...parameterArns] },
      // Defence in depth: should anyone attach a broader policy to this role, reading another parameter stays denied.
      { Sid: "NoOtherParameters", Effect: "Deny", Action: ["ssm:GetParameter*"], NotResource: [...parameterArns] },
    ],
  });
}

/** A launch choice of the fleet: a candidate type in a subnet; EC2 tries lower priorities first. */
export interface FleetOverride {
  readonly instanceType: string;
  readonly subnetId: string;
  readonly priority: number;
}

/** A subnet and its availability zone. */
export interface ZoneSubnet {
  readonly id: string;
  readonly zone: string;
}

/**
 * The zones offering each type, from getInstanceTypeOfferings' parallel lists (one entry per offering:
 * hashicorp/terraform-provider-aws internal/service/ec2/ec2_instance_type_offerings_data_source.go appends
 * instanceTypes, locations and locationTypes in one loop; read 2026-11-30).
 */
export function offeredZones(o: {
  instanceTypes: readonly string[];
  locations: readonly string[];
}): Map<string, Set<string>> {
  const zones = new Map<string, Set<string>>();
  o.instanceTypes.forEach((type, i) => {
    const zone = o.locations[i];
    if (zone !== undefined) zones.set(type, (zones.get(type) ?? new Set<string>()).add(zone));
  });
  return zones;
}

/**
 * Every candidate (in the plan's order, cheapest first) in every subnet whose zone offers it. Priority is
 * typeRank * 100 + subnetRank (subnets sorted by id): on-demand "prioritized" takes "the highest priority
 * first" and falls back past insufficient capacity
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-on-demand-backup.html, read 2026-11-30).
 */
export function fleetOverrides(
  types: readonly string[],
  offered: ReadonlyMap<string, ReadonlySet<string>>,
  subnets: readonly ZoneSubnet[],
): FleetOverride[] {
  const sorted = [...subnets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return types.flatMap((type, typeRank) =>
    sorted.flatMap((s, subnetRank) =>
      offered.get(type)?.has(s.zone) === true
        ? [{ instanceType: type, subnetId: s.id, priority: typeRank * 100 + subnetRank }]
        : [],
    ),
  );
}

/** What an instant fleet launched: its one instance, or null when EC2 launched nothing. */
export interface Launched {
  readonly id: string;
  readonly type: string;
  readonly market: "spot" | "on-demand";
}

/** The one instance in a fleet's fleetInstanceSets, or null for none. */
export function launchedOf(
  sets: readonly { instanceIds?: string[]; instanceType?: string; lifecycle?: string }[] | undefined,
): Launched | null {
  for (const s of sets ?? []) {
    const id = s.instanceIds?.[0];
    if (id !== undefined && s.instanceType !== undefined)
      return { id, type: s.instanceType, market: s.lifecycle === "spot" ? "spot" : "on-demand" };
  }
  return null;
}

/**
 * A refusal raised inside an Output, as `pulumi up` should print it: a ResourceError on the fleet with its
 * stack hidden (the CLI prints a plain error, or anything but a RunError or ResourceError, with its stack:
 * @pulumi/pulumi 3.248.0 cmd/run/run.js uncaughtHandler), and no stack frames in `stack` either, since the
 * SDK logs a failed invoke's argument error with it (runtime/invoke.js).
 */
function launchRefusal(refusal: UserError, fleet: aws.ec2.Fleet): pulumi.ResourceError {
  const error = new pulumi.ResourceError(refusal.message, fleet, true);
  error.stack = `${error.name}: ${refusal.message}`;
  return error;
}

/**
 * The refusal when an instant fleet launched nothing. CreateFleet succeeds then, with the reasons only in
 * its Errors list, which the provider does not expose ("In case of ICE create-fleet doesn't raise an
 * exception", aws/aws-parallelcluster-node#528; TF resourceFleetCreate reads neither Errors nor Instances).
 */
export function nothingLaunchedError(fleetId: string, types: readonly string[], region: string): UserError {
  return new UserError({
    key: "instanceType",
    value: types.join(","),
    problem:
      `EC2 fleet ${fleetId} launched no instance: no capacity for ${types.join(", ")} in any zone tried, ` +
      "or a quota or permission error.",
    hint:
      `See why in its Errors list: aws ec2 describe-fleets --region ${region} --fleet-ids ${fleetId}\n` +
      "The next `pulumi up` replaces the fleet and tries again.",
  });
}

/** Tags that never change for the life of a machine; EC2 stamps them at launch (the launch template's). */
const IDENTITY_TAG_KEYS = ["qwen3-serve:project", "qwen3-serve:stack"] as const;
/** The tag that remembers which launch a live machine came from (see {@link GpuServer}). */
export const GENERATION_TAG = "qwen3-serve:generation";

/** Shared by the component's steps. */
interface Scope {
  readonly name: string;
  readonly args: GpuServerArgs;
  readonly parent: pulumi.CustomResourceOptions;
  readonly family: (typeof AMI_FAMILIES)[AmiFamilyName];
  readonly tags: Record<string, string>;
  readonly idle: IdleSettings;
  readonly region: pulumi.Output<string>;
}

/** What every fleet of the component is declared with. */
interface FleetWiring {
  readonly overrides: (types: readonly string[]) => pulumi.Output<FleetOverride[]>;
  readonly generation: pulumi.Output<string>;
  /** The destroy-time wait: each fleet depends on it, so it runs after the fleet is deleted. */
  readonly terminated: command.local.Command;
}

/** One market's candidates: the plans in priority order and their launch templates. */
interface Pool {
  readonly market: "spot" | "on-demand";
  readonly plans: readonly Plan[];
  readonly templates: readonly aws.ec2.LaunchTemplate[];
}

/** The secrets and watchdog parameters the machine reads at boot. */
interface Secrets {
  readonly key: pulumi.Output<string>;
  readonly apiKeyParam: aws.ssm.Parameter;
  readonly hfParam: aws.ssm.Parameter | undefined;
  readonly idleParams: aws.ssm.Parameter[];
  readonly idleSha256: string;
}

/**
 * One GPU EC2 host serving a Qwen3 model behind an authenticated OpenAI-compatible endpoint, launched by
 * an EC2 Fleet of type `instant` that picks the first candidate type × zone with capacity.
 *
 * Outputs: `instanceId` and `instanceType` are those of the instance EC2 launched, `availabilityZone` its
 * zone, `launchedPlan` the plan of that type (its TP size and serve command), `pricePerHour` that plan's
 * price, `publicIp` the Elastic IP (empty when private), `amiId` the AMI it runs, and `connectCommand` and
 * `portForwardCommand` are `aws ssm start-session` commands.
 *
 * Relaunch: an instant fleet stays in state after its instance is gone (terminated by the watchdog or a
 * spot interruption) or when it launched nothing, so `pulumi up` would see no change. Each launch carries
 * a generation tag; a live instance hands its generation back, none gives a new one, and the fleet's
 * `replacementTrigger` replaces the fleet when it changes.
 */
export class GpuServer extends TargetServer {
  /** The region every resource lives in (the reaper reads it from the `awsRegion` stack output). */
  readonly region: pulumi.Output<string>;
  /** The zone of the instance EC2 launched. */
  readonly availabilityZone: pulumi.Output<string>;
  /** The plan of the type EC2 launched. */
  readonly launchedPlan: pulumi.Output<Plan>;

  constructor(name: string, args: GpuServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:aws:GpuServer", name, {}, opts);
    if (args.plan.instance.market === "spot" && args.shutdownBehavior === "stop")
      throw spotStopRefusal("shutdownBehavior");
    const scope = this.scope(name, args);
    const secrets = this.declareSecrets(scope);
    const profile = this.declareIdentity(scope, secrets);
    const primary = [args.plan, ...(args.fallbackPlans ?? [])];
    const onDemand = args.plan.instance.market === "spot" ? (args.onDemandFallbackPlans ?? []) : [];
    const network = this.network(
      scope,
      [...primary, ...onDemand].map((p) => p.instance.type),
    );
    const sg = this.declareSecurityGroup(scope, network.vpcId);
    const template = this.templateFactory(scope, secrets, profile, sg);
    const generation = this.generation(scope);
    const pool = (market: Pool["market"], plans: readonly Plan[], prefix: string): Pool => ({
      market,
      plans,
      templates: plans.map((p) => template(p, `${prefix}${p.instance.type.replace(/\./g, "-")}`)),
    });
    const first = pool(args.plan.instance.market, primary, "lt-");
    const fallback = onDemand.length > 0 ? pool("on-demand", onDemand, "lt-od-") : undefined;
    const terminated = this.declareTerminationWait(scope, [
      sg,
      profile,
      ...first.templates,
      ...(fallback?.templates ?? []),
    ]);
    const wiring: FleetWiring = { overrides: network.overrides, generation, terminated };
    const fleet = this.declareFleet(scope, first, wiring, "fleet");
    const launched = this.launchedFrom(scope, fleet, first, wiring, fallback);
    this.launchedPlan = launched.apply((l) => planOf([first, ...(fallback ? [fallback] : [])], l));
    const instance = aws.ec2.getInstanceOutput({ instanceId: launched.id }, scope.parent);
    this.availabilityZone = instance.availabilityZone;
    this.declareMutableTags(scope, launched.id, instance);
    this.region = scope.region;
    this.declareEndpoint(scope, secrets.key, { fleet, launched, instance, plan: this.launchedPlan });
  }

  /** The provider, tags and watchdog settings every step uses. */
  private scope(name: string, args: GpuServerArgs): Scope {
    // One provider for every AWS resource and lookup; other packages (random, command) keep their defaults.
    const provider =
      args.region === undefined
        ? undefined
        : new aws.Provider(`${name}-aws`, { region: args.region }, { parent: this });
    const parent = { parent: this, ...(provider !== undefined ? { provider } : {}) };
    const idle: IdleSettings = {
      ...args.idle,
      action: args.idle.action ?? "poweroff",
      fromInstanceTags: args.idle.fromInstanceTags ?? true,
    };
    const region = aws.getRegionOutput({}, parent).region;
    return { name, args, parent, family: AMI_FAMILIES[args.amiFamily], tags: { ...args.tags }, idle, region };
  }

  /** A per-stack API key stored with the optional HF token as SSM SecureStrings, and the watchdog's script. */
  private declareSecrets({ name, args, parent, tags }: Scope): Secrets {
    const parameterPrefix = args.parameterPrefix ?? defaultParameterPrefix(name);
    const key = declareApiKey(name, this);
    const apiKeyParam = new aws.ssm.Parameter(
      `${name}-api-key`,
      {
        name: `${parameterPrefix}/api-key`,
        type: "SecureString",
        value: key,
        description: "qwen3-serve endpoint API key",
        tags,
      },
      parent,
    );
    const hfParam =
      args.hfToken === undefined
        ? undefined
        : new aws.ssm.Parameter(
            `${name}-hf-token`,
            {
              name: `${parameterPrefix}/hf-token`,
              type: "SecureString",
              value: pulumi.secret(args.hfToken),
              description: "Hugging Face token for weight downloads",
              tags,
            },
            parent,
          );
    // The idle watchdog: too big for EC2's 16 KiB of user data, so it waits in free Standard String
    // parameters (4 KB each) that the secrets phase joins, decodes and checks by hash.
    const idleScript = idleScriptSsm(parameterPrefix);
    const idleParams = idleScript.values.map(
      ({ name: paramName, value }, i) =>
        new aws.ssm.Parameter(
          `${name}-idle-py-${i}`,
          // insecureValue: the script is no secret, so diffs show it (`value` is always marked secret).
          {
            name: paramName,
            type: "String",
            tier: "Standard",
            insecureValue: value,
            description: `qwen3-serve idle watchdog (idle.py): gzip+base64, part ${i + 1} of ${idleScript.values.length}`,
            tags,
          },
          parent,
        ),
    );
    return { key, apiKeyParam, hfParam, idleParams, idleSha256: idleScript.sha256 };
  }

  /** SSM Session Manager, and read access to exactly this stack's parameters (nothing managed attached). */
  private declareIdentity({ name, parent, tags }: Scope, s: Secrets): aws.iam.InstanceProfile {
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        description: "qwen3-serve GPU instance",
        tags,
      },
      parent,
    );
    const paramArns = [
      s.apiKeyParam.arn,
      ...(s.hfParam === undefined ? [] : [s.hfParam.arn]),
      ...s.idleParams.map((p) => p.arn),
    ];
    new aws.iam.RolePolicy(
      `${name}-instance`,
      { role: role.name, policy: pulumi.all(paramArns).apply((arns) => instancePolicy(arns)) },
      parent,
    );
    return new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, parent);
  }

  /**
   * Where the fleet may launch: the given subnet, or the default VPC's default subnet in every zone that
   * offers a candidate (getSubnets per zone: a zone may have no default subnet, where getSubnet would fail).
   */
  private network(
    { args, parent }: Scope,
    types: readonly string[],
  ): { vpcId: pulumi.Output<string>; overrides: (types: readonly string[]) => pulumi.Output<FleetOverride[]> } {
    const offerings = aws.ec2.getInstanceTypeOfferingsOutput(
      { locationType: "availability-zone", filters: [{ name: "instance-type", values: [...new Set(types)] }] },
      parent,
    );
    // Plain lists through the Outputs: pulumi.all would take a Map apart.
    const offered = offerings.apply((o) => ({ instanceTypes: o.instanceTypes, locations: o.locations }));
    if (args.subnetId !== undefined) {
      const subnet = aws.ec2.getSubnetOutput({ id: args.subnetId }, parent);
      const subnets = pulumi.all([subnet.id, subnet.availabilityZone]).apply(([id, zone]) => [{ id, zone }]);
      return { vpcId: subnet.vpcId, overrides: (t) => overridesOrRefuse(t, offered, subnets, args.subnetId) };
    }
    const vpc = aws.ec2.getVpcOutput({ default: true }, parent);
    const subnets = offerings.apply((o) =>
      pulumi.all(
        [...new Set(o.locations)].sort().map((zone) =>
          aws.ec2
            .getSubnetsOutput(
              {
                filters: [
                  { name: "vpc-id", values: [vpc.id] },
                  { name: "default-for-az", values: ["true"] },
                  { name: "availability-zone", values: [zone] },
                ],
              },
              parent,
            )
            .ids.apply((ids) => ids.map((id) => ({ id, zone }))),
        ),
      ),
    );
    const flat = subnets.apply((lists) => lists.flat());
    return { vpcId: vpc.id, overrides: (t) => overridesOrRefuse(t, offered, flat, undefined) };
  }

  /** The security group: only the ingress asked for, all egress. */
  private declareSecurityGroup(
    { name, args, parent, tags }: Scope,
    vpcId: pulumi.Output<string>,
  ): aws.ec2.SecurityGroup {
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      { vpcId, description: `qwen3-serve ${name}: endpoint ingress only`, tags },
      parent,
    );
    const ingress = (rule: string, port: number, cidr: string, description: string): void => {
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-${rule}`,
        { securityGroupId: sg.id, cidrIpv4: cidr, ipProtocol: "tcp", fromPort: port, toPort: port, description, tags },
        parent,
      );
    };
    if (!args.private) {
      for (const [i, cidr] of args.allowedCidrs.entries())
        ingress(`endpoint-${i}`, args.proxyPort, cidr, "qwen3-serve endpoint");
    }
    for (const [i, cidr] of (args.ssh?.allowedCidrs ?? []).entries()) ingress(`ssh-${i}`, 22, cidr, "SSH");
    // HTTP-01 validation comes from Let's Encrypt's servers; config validation demanded tls.openPort80ForAcme.
    if (args.tls !== undefined) ingress("acme", 80, "0.0.0.0/0", "Let's Encrypt HTTP-01");
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-egress`,
      {
        securityGroupId: sg.id,
        cidrIpv4: "0.0.0.0/0",
        ipProtocol: "-1",
        description: "downloads, SSM, package mirrors",
        tags,
      },
      parent,
    );
    return sg;
  }

  /** The gzipped cloud-init of one plan: each candidate type has its own TP size and serve command. */
  private userData(scope: Scope, s: Secrets, plan: Plan): pulumi.Output<string> {
    const { args, family, idle, region } = scope;
    return pulumi
      .all([
        s.apiKeyParam.name,
        s.hfParam?.name ?? pulumi.output(""),
        region,
        pulumi.all(s.idleParams.map((p) => p.name)),
      ])
      .apply(([apiKeyName, hfName, r, idleNames]) => {
        const files = machineFiles(plan, {
          secrets: {
            source: "ssm",
            region: r,
            apiKeyParameter: apiKeyName,
            ...(hfName !== "" ? { hfTokenParameter: hfName } : {}),
          },
          idleFromSsm: { parameters: idleNames, sha256: s.idleSha256 },
          proxyPort: args.proxyPort,
          driver: family.hasDriver ? "require" : "install",
          idle,
          ...(args.tls !== undefined ? { tls: { domain: args.tls.domain, email: args.tls.email } } : {}),
          ...(args.engineImageDigest !== undefined ? { engineImageDigest: args.engineImageDigest } : {}),
        });
        return gzipSync(renderCloudInit(files), { level: 9 }).toString("base64");
      });
  }

  /** The tags EC2 stamps on the instance and its volume at launch: stable ones only, so they never force a new template. */
  private identityTags({ name, tags }: Scope): Record<string, string> {
    const stable = Object.fromEntries(IDENTITY_TAG_KEYS.flatMap((k) => (tags[k] !== undefined ? [[k, tags[k]]] : [])));
    return { ...stable, "qwen3-serve:component": name };
  }

  /**
   * A launch template per candidate plan: IMDSv2 only, an encrypted gp3 root on the AMI's own root device
   * (another device name adds a second volume instead of growing the root: terraform-aws-modules/terraform-aws-eks#281),
   * security groups without network interfaces (a fleet's subnet override ignores a template's interfaces:
   * aws/karpenter-provider-aws#3819), and no market options (the fleet chooses the market).
   */
  private templateFactory(
    scope: Scope,
    s: Secrets,
    profile: aws.iam.InstanceProfile,
    sg: aws.ec2.SecurityGroup,
  ): (plan: Plan, suffix: string) => aws.ec2.LaunchTemplate {
    const { name, args, parent, family, tags } = scope;
    const imageId = args.amiId ?? aws.ssm.getParameterOutput({ name: family.ssmParameter }, parent).insecureValue;
    const rootDeviceName = aws.ec2.getAmiOutput(
      { filters: [{ name: "image-id", values: [imageId] }] },
      parent,
    ).rootDeviceName;
    const generation = this.generation(scope);
    const stamped = generation.apply((g) => ({
      ...this.identityTags(scope),
      Name: `qwen3-serve-${name}`,
      [GENERATION_TAG]: g,
    }));
    return (plan, suffix) =>
      new aws.ec2.LaunchTemplate(
        `${name}-${suffix}`,
        {
          description: `qwen3-serve ${name}: ${plan.instance.type}, TP ${plan.tensorParallelSize}`,
          imageId,
          instanceType: plan.instance.type,
          userData: this.userData(scope, s, plan),
          // A spot instance from a fleet cannot stop (see spotStopRefusal), so its poweroff terminates.
          instanceInitiatedShutdownBehavior: plan.instance.market === "spot" ? "terminate" : args.shutdownBehavior,
          iamInstanceProfile: { name: profile.name },
          vpcSecurityGroupIds: [sg.id],
          ...(args.ssh !== undefined ? { keyName: args.ssh.keyName } : {}),
          // Tags in metadata: the idle watchdog reads its window and TTL from them each minute.
          metadataOptions: {
            httpTokens: "required",
            httpEndpoint: "enabled",
            httpPutResponseHopLimit: 1,
            instanceMetadataTags: "enabled",
          },
          blockDeviceMappings: [
            {
              deviceName: rootDeviceName,
              ebs: {
                volumeType: "gp3",
                volumeSize: family.osDiskGiB + plan.disk.totalGiB + args.rootVolume.extraGiB,
                iops: args.rootVolume.iops,
                throughput: args.rootVolume.throughputMiBps,
                encrypted: "true",
                deleteOnTermination: "true",
              },
            },
          ],
          tagSpecifications: [
            { resourceType: "instance", tags: stamped },
            { resourceType: "volume", tags: stamped },
          ],
          updateDefaultVersion: true,
          tags,
        },
        // A new DLAMI release must not replace a running machine: the AMI is resolved once and kept
        // (pin aws.amiId, or `pulumi up --replace`, to move). A pinned AMI is honoured as given.
        { ...parent, ...(args.amiId === undefined ? { ignoreChanges: ["imageId"] } : {}) },
      );
  }

  /** The generation of the live machine (its tag), or a new one when none is live; cached per component. */
  private generation(scope: Scope): pulumi.Output<string> {
    if (this.generationCache !== undefined) return this.generationCache;
    const { args, parent } = scope;
    const fresh = args.generation ?? new Date().toISOString();
    const live = aws.ec2.getInstancesOutput(
      { instanceTags: this.identityTags(scope), instanceStateNames: ["pending", "running", "stopping", "stopped"] },
      parent,
    );
    this.generationCache = live.ids.apply((ids) =>
      ids[0] === undefined
        ? pulumi.output(fresh)
        : aws.ec2.getInstanceOutput({ instanceId: ids[0] }, parent).tags.apply((t) => t[GENERATION_TAG] ?? fresh),
    );
    return this.generationCache;
  }
  private generationCache: pulumi.Output<string> | undefined;

  /**
   * The destroy-time wait: a command step with only a delete, which runs scripts/wait-terminated.ts until no
   * instance with the identity tags is left but terminated ones (the provider does not wait for an instant
   * fleet's instance: ./awsTermination.ts). Without `create` the step does nothing on `pulumi up`
   * (pulumi/pulumi-command provider/pkg/provider/local/commandController.go, Create returns when input.Create
   * is nil; read 2026-11-30). It depends on `after` (the security group, profile and templates) and the fleets
   * on it, so a destroy deletes the fleet, then waits, then deletes those. Its environment is known before
   * any fleet exists.
   */
  private declareTerminationWait(scope: Scope, after: pulumi.Resource[]): command.local.Command {
    return new command.local.Command(
      `${scope.name}-terminated`,
      {
        delete: nodeScriptCommand("wait-terminated"),
        environment: terminationEnv(scope.region, this.identityTags(scope)),
      },
      { parent: this, dependsOn: after },
    );
  }

  /**
   * The instant fleet of one pool. Instant fleets cannot be modified (ModifyFleet is for maintain fleets:
   * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/modify-ec2-fleet.html), so every input change
   * replaces it, old machine first; deleting it terminates its instance (terminateInstances, which AWS
   * requires for instant fleets: API_DeleteFleets.html). Both read 2026-11-30.
   */
  private declareFleet(
    { name, parent, tags }: Scope,
    pool: Pool,
    { overrides, generation, terminated }: FleetWiring,
    suffix: string,
  ): aws.ec2.Fleet {
    const all = overrides(pool.plans.map((p) => p.instance.type));
    const spot = pool.market === "spot";
    return new aws.ec2.Fleet(
      `${name}-${suffix}`,
      {
        type: "instant",
        terminateInstances: true,
        targetCapacitySpecification: { defaultTargetCapacityType: pool.market, totalTargetCapacity: 1 },
        // Spot has no strict priority order; capacity-optimized-prioritized honours it "on a best-effort basis".
        ...(spot
          ? {
              spotOptions: {
                allocationStrategy: "capacity-optimized-prioritized",
                instanceInterruptionBehavior: "terminate",
              },
            }
          : { onDemandOptions: { allocationStrategy: "prioritized" } }),
        launchTemplateConfigs: pool.templates.map((lt, i) => ({
          launchTemplateSpecification: { launchTemplateId: lt.id, version: lt.latestVersion.apply(String) },
          overrides: all.apply((os) => os.filter((o) => o.instanceType === pool.plans[i]?.instance.type)),
        })),
        tags: { ...tags, Name: `qwen3-serve-${name}` },
      },
      {
        ...parent,
        dependsOn: [terminated],
        deleteBeforeReplace: true,
        replaceOnChanges: ["launchTemplateConfigs", "targetCapacitySpecification"],
        replacementTrigger: generation,
      },
    );
  }

  /** The instance the fleet launched; with an on-demand fallback pool, its fleet is declared only when spot launched nothing. */
  private launchedFrom(
    scope: Scope,
    fleet: aws.ec2.Fleet,
    first: Pool,
    wiring: FleetWiring,
    fallback: Pool | undefined,
  ): pulumi.Output<Launched> {
    const require = (f: aws.ec2.Fleet, pool: Pool): pulumi.Output<Launched> =>
      pulumi.all([f.id, f.fleetInstanceSets, scope.region]).apply(([id, sets, region]) => {
        const l = launchedOf(sets);
        if (l === null)
          throw launchRefusal(
            nothingLaunchedError(
              id,
              pool.plans.map((p) => p.instance.type),
              region,
            ),
            f,
          );
        return l;
      });
    if (fallback === undefined) return require(fleet, first);
    return fleet.fleetInstanceSets.apply((sets) => {
      const l = launchedOf(sets);
      return l !== null ? pulumi.output(l) : require(this.declareFleet(scope, fallback, wiring, "fleet-od"), fallback);
    });
  }

  /**
   * The tags that may change during a machine's life (the watchdog's window, TTL, owner, expiry): one
   * aws.ec2.Tag each on the instance and its root volume, updated in place. In the launch template
   * they would make a new template version, hence a new machine.
   */
  private declareMutableTags(
    scope: Scope,
    instanceId: pulumi.Output<string>,
    instance: pulumi.Output<aws.ec2.GetInstanceResult>,
  ): void {
    const { name, parent, tags, idle } = scope;
    const identity = this.identityTags(scope);
    const all = { ...tags, ...(idle.fromInstanceTags === true ? watchdogTags(idle) : {}) };
    const volumeId = instance.rootBlockDevices.apply((d) => d[0]?.volumeId ?? "");
    for (const [key, value] of Object.entries(all)) {
      if (identity[key] !== undefined) continue;
      const slug = key.replace(/[^A-Za-z0-9]+/g, "-");
      new aws.ec2.Tag(`${name}-tag-${slug}`, { resourceId: instanceId, key, value }, parent);
      new aws.ec2.Tag(`${name}-vtag-${slug}`, { resourceId: volumeId, key, value }, parent);
    }
  }

  /** The Elastic IP, the on-demand InstanceState, DNS, the readiness wait and the outputs. */
  private declareEndpoint(
    scope: Scope,
    key: pulumi.Output<string>,
    m: {
      fleet: aws.ec2.Fleet;
      launched: pulumi.Output<Launched>;
      instance: pulumi.Output<aws.ec2.GetInstanceResult>;
      plan: pulumi.Output<Plan>;
    },
  ): void {
    const { name, args, parent, tags, family, region } = scope;
    const instanceId = m.launched.id;
    // On-demand only: it starts a machine the watchdog stopped when `pulumi up` refreshes first (Pulumi.yaml
    // sets options.refresh: always). A spot machine terminates instead, and the generation relaunches it.
    if (args.plan.instance.market === "on-demand")
      new aws.ec2transitgateway.InstanceState(`${name}-running`, { instanceId, state: "running" }, parent);
    // A stopped instance gives its public IP back; an Elastic IP stays, so the endpoint, the DNS record and
    // the key's destination survive idle stops.
    const eip = args.private ? undefined : new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags }, parent);
    const eipAssociation =
      eip === undefined
        ? undefined
        : new aws.ec2.EipAssociation(`${name}-eip`, { instanceId, allocationId: eip.allocationId }, parent);
    const publicIp: pulumi.Output<string> = eip === undefined ? pulumi.output("") : eip.publicIp;
    const host: pulumi.Output<string> =
      args.tls !== undefined ? pulumi.output(args.tls.domain) : args.private ? pulumi.output("127.0.0.1") : publicIp;
    if (args.tls?.hostedZoneId !== undefined) {
      new aws.route53.Record(
        `${name}-dns`,
        { zoneId: args.tls.hostedZoneId, name: args.tls.domain, type: "A", ttl: 60, records: [publicIp] },
        parent,
      );
    }
    const base = pulumi.interpolate`${args.tls !== undefined ? "https" : "http"}://${host}:${args.proxyPort}`;
    const ready =
      args.waitForReady && !args.private
        ? declareReadinessWait(
            name,
            {
              baseUrl: base,
              apiKey: key,
              model: args.plan.serve.servedModelName,
              timeoutSeconds: m.plan.apply((p) => readinessTimeoutSeconds(p, !family.hasDriver)),
              hasStatus: true,
              // Wait once per machine: on creation and on replacement, not on every update.
              triggers: [instanceId],
            },
            { parent: this, dependsOn: eipAssociation === undefined ? [m.fleet] : [m.fleet, eipAssociation] },
          )
        : pulumi.output("not waited");
    const session = pulumi.interpolate`aws ssm start-session --region ${region} --target ${instanceId}`;
    const forward = `--parameters portNumber=${args.proxyPort},localPortNumber=${args.proxyPort}`;
    const outputs = targetOutputs({
      baseUrl: base,
      readyWhen: ready,
      modelName: args.plan.serve.servedModelName,
      apiKey: key,
      instanceId,
      publicIp,
      instanceType: m.launched.type,
      pricePerHour: m.plan.apply((p) => p.instance.pricePerHour),
      amiId: m.instance.ami,
      connectCommand: session,
      portForwardCommand: pulumi.interpolate`${session} --document-name AWS-StartPortForwardingSession ${forward}`,
      statusUrl: pulumi.interpolate`${base}${STATUS_URL_PATH}`,
    });
    this.finish(outputs, { region, availabilityZone: m.instance.availabilityZone });
  }
}

/** The overrides of these types, or a UserError when the first choice (or every candidate) has nowhere to launch. */
function overridesOrRefuse(
  types: readonly string[],
  offered: pulumi.Output<{ instanceTypes: string[]; locations: string[] }>,
  subnets: pulumi.Output<ZoneSubnet[]>,
  givenSubnet: string | undefined,
): pulumi.Output<FleetOverride[]> {
  return pulumi.all([offered, subnets]).apply(([o, s]) => {
    const list = fleetOverrides(types, offeredZones(o), s);
    const first = types[0] ?? "";
    if (givenSubnet !== undefined && !list.some((x) => x.instanceType === first)) {
      throw new UserError({
        key: "subnetId",
        value: givenSubnet,
        problem: `its zone (${s[0]?.zone ?? "unknown"}) does not offer ${first}.`,
        hint: "Give a subnet in a zone that offers it, or leave subnetId unset to let the fleet choose among the default subnets.",
      });
    }
    if (list.length === 0) {
      throw new UserError({
        key: "subnetId",
        value: "(default VPC)",
        problem: `the default VPC has no default subnet in a zone that offers ${types.join(", ")}.`,
        hint: "Give a subnet in such a zone (a stack sets it as aws.subnetId), or pin another instance type.",
      });
    }
    return list;
  });
}

/** The plan of what EC2 launched: its market's pool, its type. */
function planOf(pools: readonly Pool[], l: Launched): Plan {
  const plan = pools.find((p) => p.market === l.market)?.plans.find((p) => p.instance.type === l.type);
  if (plan === undefined) throw new Error(`the fleet launched ${l.type} (${l.market}), which is no candidate`);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// The AWS target module (listed in components/targets/registry.ts): how an `aws` stack config plans and
// what it declares. Kept apart from the component above, which takes a plan and knows no config.
// ---------------------------------------------------------------------------------------------

import { AMI_FAMILY_NAMES } from "../catalog/amis";
import { plainUbuntuRefusal } from "../catalog/gpus";
import { findRegion } from "../catalog/regions";
import { cidrText, parseCidr } from "../config/cidr";
import { type AwsStackConfig, MY_IP, planRequestFrom } from "../config/schema";
import { buildPlan, NothingFitsError } from "../sizing/plan";
import { checkQuota } from "../quota/invokes";
import { quotaNeed } from "../quota/rules";
import type { DeclaredOutputs, Target } from "./target";
import { hfTokenArg, idleSettings, type StackContext, stackTags } from "./stackContext";

/** Plan on AWS: the cheapest fitting instance, or the pinned one; refuses an image that cannot run it. */
function planAws(config: AwsStackConfig): Plan {
  const plan = fittedAwsPlan(config);
  const ami = config.aws.ami;
  const refusal = AMI_FAMILIES[ami].hasDriver ? null : plainUbuntuRefusal(plan.instance.type);
  if (refusal !== null) {
    throw new UserError({
      key: "aws.ami",
      value: ami,
      problem: `plain Ubuntu cannot run the planned instance: ${refusal.replace(/; use the Deep Learning AMI$/, "")}.`,
      hint: "Set aws.ami to a Deep Learning AMI family (its image ships the fabric manager), or pin a smaller aws.instanceType.",
      choices: AMI_FAMILY_NAMES.filter((f) => AMI_FAMILIES[f].hasDriver),
    });
  }
  return plan;
}

/** The plan request of an AWS stack: a region the catalog does not price keeps us-east-1 prices and types. */
function awsRequest(config: AwsStackConfig): Parameters<typeof buildPlan>[0] {
  const region = config.aws.region;
  return {
    ...planRequestFrom(config),
    ...(region !== undefined && findRegion(region) !== undefined ? { region } : {}),
  };
}

/** The cheapest fitting instance; a pinned type that cannot hold the model names the type. */
function fittedAwsPlan(config: AwsStackConfig): Plan {
  const pinned = config.aws.instanceType;
  const request = awsRequest(config);
  if (pinned === undefined) return buildPlan(request);
  try {
    return buildPlan({ ...request, instanceTypes: [pinned] });
  } catch (e) {
    if (e instanceof UserError && e.key === "instanceTypes") throw e.relabel(() => "aws.instanceType");
    if (!(e instanceof NothingFitsError) || e.largest === null) throw e;
    const unpinned = cheapestType(request);
    throw new UserError({
      key: "aws.instanceType",
      value: pinned,
      problem: `cannot hold ${config.model} (${e.largest.reason}).`,
      hint:
        unpinned === undefined
          ? "Remove the pin or lower quantization, context or concurrency."
          : `Remove the pin to let the plan choose (it picks ${unpinned}), or lower quantization, context or concurrency.`,
    });
  }
}

/**
 * The fleet's candidate types: the plan's type and up to aws.fallbackTypes of its cheapest alternatives
 * (none when the type is pinned: the zone fallback stays), without those the image cannot run.
 */
export function candidateTypes(config: AwsStackConfig, plan: Plan): string[] {
  const fallbacks = config.aws.instanceType !== undefined ? [] : plan.alternatives.slice(0, config.aws.fallbackTypes);
  const runnable = (t: string): boolean => AMI_FAMILIES[config.aws.ami].hasDriver || plainUbuntuRefusal(t) === null;
  return [plan.instance.type, ...fallbacks.map((a) => a.type).filter(runnable)];
}

/** A full plan per candidate type, in one market. */
function candidatePlans(config: AwsStackConfig, types: readonly string[], spot: boolean): Plan[] {
  return types.map((t) => buildPlan({ ...awsRequest(config), spot, instanceTypes: [t] }));
}

/**
 * The plans whose vCPU quota has room, in order. The first must fit when `firstMustFit` (the preflight's
 * UserError); any other that does not is dropped with one warning. A candidate of a quota already found to
 * fit with at least its vCPUs needs no second read.
 */
async function withinQuota(
  config: AwsStackConfig,
  plans: readonly Plan[],
  ctx: StackContext,
  firstMustFit: boolean,
): Promise<Plan[]> {
  if (config.aws.skipQuotaCheck) return [...plans];
  const fits: { code: string; vcpus: number }[] = [];
  const kept: Plan[] = [];
  // A read that fails fails alike for every candidate: say it once.
  const said = new Set<string>();
  const warn = (m: string): void => {
    if (!said.has(m)) ctx.warn?.(m);
    said.add(m);
  };
  const dropped: string[] = [];
  for (const [i, plan] of plans.entries()) {
    const need = quotaNeed(plan.instance);
    if (need === null || fits.some((f) => f.code === need.quota.code && f.vcpus >= need.vcpus)) {
      kept.push(plan);
      continue;
    }
    try {
      await checkQuota({
        instance: plan.instance,
        ...(config.aws.region !== undefined ? { region: config.aws.region } : {}),
        project: ctx.project,
        stack: ctx.stack,
        warn,
      });
      fits.push({ code: need.quota.code, vcpus: need.vcpus });
      kept.push(plan);
    } catch (e) {
      if (!(e instanceof UserError) || (i === 0 && firstMustFit)) throw e;
      dropped.push(`${plan.instance.type} (${plan.instance.market}, ${need.quota.code}: ${e.problem})`);
    }
  }
  if (dropped.length > 0)
    ctx.warn?.(`fallback candidates left out, their vCPU quota has no room: ${dropped.join("; ")}`);
  return kept;
}

/** The type the plan would choose without a pin, or undefined when none fits. */
function cheapestType(request: Parameters<typeof buildPlan>[0]): string | undefined {
  try {
    return buildPlan(request).instance.type;
  } catch {
    return undefined;
  }
}

/** "myip" resolved to the deployer's address, duplicates dropped (the config is already canonical). */
async function resolveCidrs(list: readonly string[], ctx: StackContext): Promise<string[]> {
  const out: string[] = [];
  for (const text of list) out.push(text === MY_IP ? await myIpCidr(ctx) : text);
  return [...new Set(out)];
}

/** The deployer's address as a /32, refused before anything is declared when it is not an IPv4 address. */
async function myIpCidr(ctx: StackContext): Promise<string> {
  const ip = await ctx.myIp();
  const cidr = parseCidr(`${ip}/32`);
  if (cidr === null) {
    throw new UserError({
      key: "aws.allowedCidrs",
      value: MY_IP,
      problem: `the deployer's public address was looked up as "${ip}", which is not an IPv4 address.`,
      hint: "List your CIDR instead of myip.",
    });
  }
  return cidrText(cidr);
}

/**
 * Declare the AWS stack: CIDRs resolved, the candidates planned and their vCPU quotas checked first, then
 * one {@link GpuServer}.
 */
async function declareAws(config: AwsStackConfig, plan: Plan, ctx: StackContext): Promise<DeclaredOutputs> {
  const aws = config.aws;
  const allowedCidrs = await resolveCidrs(aws.allowedCidrs ?? [], ctx);
  const ssh =
    aws.ssh === undefined
      ? {}
      : { ssh: { keyName: aws.ssh.keyName, allowedCidrs: await resolveCidrs(aws.ssh.allowedCidrs, ctx) } };
  const types = candidateTypes(config, plan);
  const spot = plan.instance.market === "spot";
  const [first, ...fallbackPlans] = await withinQuota(
    config,
    [plan, ...candidatePlans(config, types.slice(1), spot)],
    ctx,
    true,
  );
  const onDemand =
    spot && aws.spotFallback === "on-demand"
      ? await withinQuota(config, candidatePlans(config, types, false), ctx, false)
      : [];
  const gpu = new GpuServer(ctx.stack, {
    plan: first ?? plan,
    fallbackPlans,
    ...(onDemand.length > 0 ? { onDemandFallbackPlans: onDemand } : {}),
    amiFamily: aws.ami,
    ...(aws.amiId !== undefined ? { amiId: aws.amiId } : {}),
    ...(aws.subnetId !== undefined ? { subnetId: aws.subnetId } : {}),
    allowedCidrs,
    private: aws.private,
    ...ssh,
    proxyPort: aws.proxyPort,
    ...(aws.tls !== undefined ? { tls: aws.tls } : {}),
    rootVolume: aws.rootVolume,
    shutdownBehavior: config.idleAction,
    idle: { ...idleSettings(config, "poweroff"), fromInstanceTags: true },
    ...(aws.engineImageDigest !== undefined ? { engineImageDigest: aws.engineImageDigest } : {}),
    waitForReady: aws.waitForReady,
    // Kept as deployed stacks have it, so their parameters are not replaced.
    parameterPrefix: `/${ctx.project}/${ctx.stack}`,
    tags: stackTags(config, ctx, plan),
    ...(aws.region !== undefined ? { region: aws.region } : {}),
    ...hfTokenArg(config),
  });
  return {
    ...targetOutputsOf(gpu),
    awsRegion: gpu.region,
    availabilityZone: gpu.availabilityZone,
    plan: gpu.launchedPlan,
  };
}

/** The AWS target: plans over the instance catalog, declares one {@link GpuServer}. */
export const awsTarget: Target<AwsStackConfig> = { plan: planAws, declare: declareAws };
