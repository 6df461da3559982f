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
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { UserError } from "../errors/userError";
import { readinessTimeoutSeconds, STATUS_URL_PATH, type IdleSettings } from "../machine/render";
import type { Plan } from "../sizing/plan";
import { nodeScriptCommand } from "../machine/nodeScript";
import { spotStopRefusal } from "../config/schema";
import { targetOutputs, targetOutputsOf, TargetServer } from "./outputs";
import { declareReadinessWait } from "./readinessWait";
import { terminationEnv } from "./awsTermination";
import { declareMirrorAccess, findMirrorBucket, type MirrorArgs, ssmBucketLookup } from "./awsMirror";
import {
  type AwsMachineArgs,
  type AwsScope,
  type RootVolume,
  awsScope,
  declareIdentity,
  declareSecrets,
  type FleetOverride,
  identityTags,
  launchTemplateFactory,
  network,
  userData,
} from "./awsShared";

export {
  defaultParameterPrefix,
  type FleetOverride,
  fleetOverrides,
  instancePolicy,
  offeredZones,
  SESSION_MANAGER_ACTIONS,
  type ZoneSubnet,
} from "./awsShared";

/** Inputs of {@link GpuServer}. */
export interface GpuServerArgs extends AwsMachineArgs {
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
  /** gp3 root performance and extra size; initializationRateMiBps (100-300) provisions the AMI snapshot's load, 0 or unset leaves it off. */
  readonly rootVolume: RootVolume;
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

/** The instance tags idle.py reads through instance metadata (components/machine/idle.py, imds_tags). */
export function watchdogTags(idle: GpuServerIdle): Record<string, string> {
  return {
    "qwen3-serve:idle-minutes": idle.minutes === null ? "off" : String(idle.minutes),
    ...(idle.countSsh ? { "qwen3-serve:idle-counts-ssh": "true" } : {}),
    ...(idle.ttlHours !== null ? { "qwen3-serve:ttl-hours": String(idle.ttlHours) } : {}),
  };
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

/** The tag that remembers which launch a live machine came from (see {@link GpuServer}). */
export const GENERATION_TAG = "qwen3-serve:generation";

/** Shared by the component's steps. */
type Scope = AwsScope<GpuServerArgs>;

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
    const idle: IdleSettings = {
      ...args.idle,
      action: args.idle.action ?? "poweroff",
      fromInstanceTags: args.idle.fromInstanceTags ?? true,
    };
    const scope: Scope = awsScope(this, name, args, idle);
    const secrets = declareSecrets(this, scope);
    const { role, profile } = declareIdentity(scope, secrets);
    const primary = [args.plan, ...(args.fallbackPlans ?? [])];
    const onDemand = args.plan.instance.market === "spot" ? (args.onDemandFallbackPlans ?? []) : [];
    const mirror =
      args.weightsMirror === undefined
        ? undefined
        : declareMirrorAccess(scope, role, [...primary, ...onDemand], args.weightsMirror);
    const net = network(
      scope,
      [...primary, ...onDemand].map((p) => p.instance.type),
      args.subnetId,
    );
    const sg = this.declareSecurityGroup(scope, net.vpcId);
    const template = launchTemplateFactory(scope, {
      profile,
      securityGroup: sg,
      stamped: () =>
        this.generation(scope).apply((g) => ({
          ...identityTags(scope),
          Name: `qwen3-serve-${name}`,
          [GENERATION_TAG]: g,
        })),
      // A spot instance from a fleet cannot stop (see spotStopRefusal), so its poweroff terminates.
      shutdownBehavior: (plan) => (plan.instance.market === "spot" ? "terminate" : args.shutdownBehavior),
      ...(args.ssh !== undefined ? { keyName: args.ssh.keyName } : {}),
      userData: (plan) =>
        userData(scope, secrets, plan, {
          ...(args.tls !== undefined ? { tls: { domain: args.tls.domain, email: args.tls.email } } : {}),
          ...(mirror !== undefined ? { mirror } : {}),
        }),
    });
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
    const wiring: FleetWiring = { overrides: net.overrides, generation, terminated };
    const fleet = this.declareFleet(scope, first, wiring, "fleet");
    const launched = this.launchedFrom(scope, fleet, first, wiring, fallback);
    this.launchedPlan = launched.apply((l) => planOf([first, ...(fallback ? [fallback] : [])], l));
    const instance = aws.ec2.getInstanceOutput({ instanceId: launched.id }, scope.parent);
    this.availabilityZone = instance.availabilityZone;
    this.declareMutableTags(scope, launched.id, instance);
    this.region = scope.region;
    this.declareEndpoint(scope, secrets.key, { fleet, launched, instance, plan: this.launchedPlan });
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

  /** The generation of the live machine (its tag), or a new one when none is live; cached per component. */
  private generation(scope: Scope): pulumi.Output<string> {
    if (this.generationCache !== undefined) return this.generationCache;
    const { args, parent } = scope;
    const fresh = args.generation ?? new Date().toISOString();
    const live = aws.ec2.getInstancesOutput(
      { instanceTags: identityTags(scope), instanceStateNames: ["pending", "running", "stopping", "stopped"] },
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
        environment: terminationEnv(scope.region, identityTags(scope)),
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
    const identity = identityTags(scope);
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
import { type AwsStackConfig, type FleetConfig, MY_IP, planRequestFrom } from "../config/schema";
import { autoScalingGroupName } from "../fleet/settings";
import { Fleet } from "./awsFleet";
import { buildPlan, NothingFitsError } from "../sizing/plan";
import { MonthlyCostError } from "../sizing/costGuard";
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

/**
 * The plan request of an AWS stack: a region the catalog does not price keeps us-east-1 prices and types.
 * A fleet plans one replica's machine; maxMonthlyCost weighs it at fleet.maxReplicas copies (issue 15).
 */
function awsRequest(config: AwsStackConfig): Parameters<typeof buildPlan>[0] {
  const region = config.aws.region;
  return {
    ...planRequestFrom(config),
    ...(region !== undefined && findRegion(region) !== undefined ? { region } : {}),
    ...(config.fleet !== undefined ? { replicas: config.fleet.maxReplicas } : {}),
  };
}

/**
 * Where the plan's cold-start estimate boots: the stack's image family (plain Ubuntu installs the driver first),
 * and whether its weights (and, for a fleet, its compile cache) come from the S3 mirror.
 */
function awsSite(config: AwsStackConfig): {
  site: { kind: "aws"; ami: AwsStackConfig["aws"]["ami"]; weightsCache?: "s3"; fleet?: true };
} {
  const fleet = config.fleet !== undefined ? { fleet: true as const } : {};
  const mirrored = config.aws.weightsCache === "s3" ? { weightsCache: "s3" as const, ...fleet } : {};
  return { site: { kind: "aws", ami: config.aws.ami, ...mirrored } };
}

/** The cheapest fitting instance; a pinned type that cannot hold the model names the type. */
function fittedAwsPlan(config: AwsStackConfig): Plan {
  const pinned = config.aws.instanceType;
  const request = awsRequest(config);
  const site = awsSite(config);
  if (pinned === undefined) return buildPlan(request, site);
  try {
    return buildPlan({ ...request, instanceTypes: [pinned] }, site);
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

/** A full plan per candidate type, in one market; a fallback over maxMonthlyCost is left out (issue 15). */
function candidatePlans(config: AwsStackConfig, types: readonly string[], spot: boolean): Plan[] {
  return types.flatMap((t) => {
    try {
      return [buildPlan({ ...awsRequest(config), spot, instanceTypes: [t] }, awsSite(config))];
    } catch (e) {
      if (e instanceof MonthlyCostError) return [];
      throw e;
    }
  });
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
  const mirror = await mirrorPreflight(config, ctx);
  if (config.fleet !== undefined) return declareFleet(config, config.fleet, plan, ctx, mirror);
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
    ...sharedMachineArgs(config, plan, ctx, mirror),
    plan: first ?? plan,
    fallbackPlans,
    ...(onDemand.length > 0 ? { onDemandFallbackPlans: onDemand } : {}),
    ...(aws.subnetId !== undefined ? { subnetId: aws.subnetId } : {}),
    allowedCidrs,
    private: aws.private,
    ...ssh,
    ...(aws.tls !== undefined ? { tls: letsEncryptTls(aws.tls) } : {}),
    shutdownBehavior: config.idleAction,
    idle: { ...idleSettings(config, "poweroff"), fromInstanceTags: true },
  });
  return {
    ...targetOutputsOf(gpu),
    awsRegion: gpu.region,
    availabilityZone: gpu.availabilityZone,
    plan: gpu.launchedPlan,
  };
}

/**
 * With `aws.weightsCache: s3`, the region's mirror bucket, read before anything is declared (the stack's aws.region,
 * else the default provider's); undefined with the mirror off, which reads nothing.
 */
async function mirrorPreflight(config: AwsStackConfig, ctx: StackContext): Promise<MirrorArgs | undefined> {
  if (config.aws.weightsCache !== "s3") return undefined;
  const region = config.aws.region ?? (await aws.getRegion({})).region;
  const bucket = await findMirrorBucket(region, ctx.weightsBucket ?? ssmBucketLookup);
  return { bucket, project: ctx.project, stack: ctx.stack };
}

/** The component inputs a single machine and a fleet take alike from an AWS stack's config. */
function sharedMachineArgs(config: AwsStackConfig, plan: Plan, ctx: StackContext, mirror: MirrorArgs | undefined) {
  const aws = config.aws;
  return {
    amiFamily: aws.ami,
    ...(aws.amiId !== undefined ? { amiId: aws.amiId } : {}),
    proxyPort: aws.proxyPort,
    rootVolume: aws.rootVolume,
    ...(aws.engineImageDigest !== undefined ? { engineImageDigest: aws.engineImageDigest } : {}),
    waitForReady: aws.waitForReady,
    // Kept as deployed stacks have it, so their parameters are not replaced.
    parameterPrefix: `/${ctx.project}/${ctx.stack}`,
    tags: stackTags(config, ctx, plan),
    ...(aws.region !== undefined ? { region: aws.region } : {}),
    ...hfTokenArg(config),
    ...(mirror !== undefined ? { weightsMirror: mirror } : {}),
  };
}

/**
 * Declare a fleet: CIDRs resolved, the candidates planned, and each one's vCPU quota checked for maxReplicas
 * replicas at once (a candidate without room is dropped, the first must fit), then one {@link Fleet}.
 */
async function declareFleet(
  config: AwsStackConfig,
  fleet: FleetConfig,
  plan: Plan,
  ctx: StackContext,
  mirror: MirrorArgs | undefined,
): Promise<DeclaredOutputs> {
  const aws = config.aws;
  const allowedCidrs = await resolveCidrs(aws.allowedCidrs ?? [], ctx);
  const types = candidateTypes(config, plan);
  const plans = [plan, ...candidatePlans(config, types.slice(1), plan.instance.market === "spot")];
  const scaled = (p: Plan): Plan => ({
    ...p,
    instance: { ...p.instance, vcpus: p.instance.vcpus * fleet.maxReplicas },
  });
  const roomy = new Set((await withinQuota(config, plans.map(scaled), ctx, true)).map((p) => p.instance.type));
  const kept = plans.filter((p) => roomy.has(p.instance.type));
  const tls = aws.tls;
  const group = new Fleet(ctx.stack, {
    ...sharedMachineArgs(config, plan, ctx, mirror),
    plans: kept,
    fleet,
    autoScalingGroupName: autoScalingGroupName(ctx.project, ctx.stack, ctx.stack),
    allowedCidrs,
    ...(tls?.hostedZoneId !== undefined ? { tls: { domain: tls.domain, hostedZoneId: tls.hostedZoneId } } : {}),
    idle: idleSettings(config, "poweroff"),
  });
  return {
    ...targetOutputsOf(group),
    awsRegion: group.region,
    autoScalingGroupName: group.autoScalingGroupName,
    replicas: group.replicas,
    instanceTypes: group.instanceTypes,
    pricePerReplicaHour: group.pricePerReplicaHour,
  };
}

/** A single machine's TLS settings; the config refuses tls without an email on a single machine (components/config/schema.ts). */
function letsEncryptTls(tls: NonNullable<AwsStackConfig["aws"]["tls"]>): NonNullable<GpuServerArgs["tls"]> {
  if (tls.email === undefined) throw new Error("aws.tls.email: the config should have refused tls without an email");
  return {
    domain: tls.domain,
    email: tls.email,
    ...(tls.hostedZoneId !== undefined ? { hostedZoneId: tls.hostedZoneId } : {}),
  };
}

/** The AWS target: plans over the instance catalog, declares one {@link GpuServer}, or a {@link Fleet} with `fleet`. */
export const awsTarget: Target<AwsStackConfig> = { plan: planAws, declare: declareAws };
