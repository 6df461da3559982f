/**
 * The steps a single GPU machine (./aws.ts, GpuServer) and a fleet of replicas (./awsFleet.ts) declare alike:
 * the explicit provider and scope, the API key and the watchdog's script in SSM, the scoped instance role, the
 * default subnets per zone offering a candidate, the gzipped user data of one plan, and the launch-template
 * factory. Each function declares exactly what GpuServer declared before it was split out, under the same
 * names and with the same inputs, so deployed single-machine stacks keep their resources.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { gzipSync } from "node:zlib";
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { UserError } from "../errors/userError";
import { idleScriptSsm, machineFiles } from "../machine/assets";
import { type FleetMachine, type IdleSettings, renderCloudInit } from "../machine/render";
import type { Plan } from "../sizing/plan";
import { declareApiKey } from "./apiKey";
import { type MirrorArgs, type MirrorWiring, weightsMirrorOf } from "./awsMirror";

/** The gp3 root of every machine: performance, extra size, and how fast its AMI snapshot is loaded. */
export interface RootVolume {
  readonly throughputMiBps: number;
  readonly iops: number;
  readonly extraGiB: number;
  /** EBS Provisioned Rate for Volume Initialization, 100-300 MiB/s; 0 or unset: EBS's default rate, not billed. */
  readonly initializationRateMiBps?: number;
}

/** The inputs both AWS components share (GpuServerArgs and FleetArgs extend it). */
export interface AwsMachineArgs {
  /** Image family (Deep Learning AMI or plain Ubuntu). */
  readonly amiFamily: AmiFamilyName;
  /** Exact AMI to use; otherwise the family's latest, resolved once and kept on later updates. */
  readonly amiId?: string;
  /** Public port of the authenticating proxy on each machine. */
  readonly proxyPort: number;
  /** gp3 root performance and extra size; initializationRateMiBps (100-300) provisions the AMI snapshot's load, 0 or unset leaves it off. */
  readonly rootVolume: RootVolume;
  /** Pin the engine image digest. */
  readonly engineImageDigest?: string;
  /** Hugging Face token for gated repos (secret). */
  readonly hfToken?: pulumi.Input<string>;
  /** Prefix of the SSM parameter names; default /qwen3-serve/<project>/<stack>/<name> ({@link defaultParameterPrefix}). */
  readonly parameterPrefix?: string;
  /** Tags for every resource; default none besides the watchdog's and Name. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Region for every AWS resource and lookup (an explicit provider); otherwise the default provider's (aws:region). */
  readonly region?: string;
  /** The shared S3 weights mirror (aws.weightsCache: s3), as the pre-flight found it; unset: weights from the source. */
  readonly weightsMirror?: MirrorArgs;
}

/** Shared by a component's steps: its name and inputs, the provider options, image family, tags, watchdog and region. */
export interface AwsScope<A extends AwsMachineArgs = AwsMachineArgs> {
  readonly name: string;
  readonly args: A;
  readonly parent: pulumi.CustomResourceOptions;
  readonly family: (typeof AMI_FAMILIES)[AmiFamilyName];
  readonly tags: Record<string, string>;
  readonly idle: IdleSettings;
  readonly region: pulumi.Output<string>;
}

/** The secrets and watchdog parameters the machine reads at boot. */
export interface Secrets {
  readonly key: pulumi.Output<string>;
  readonly apiKeyParam: aws.ssm.Parameter;
  readonly hfParam: aws.ssm.Parameter | undefined;
  readonly idleParams: aws.ssm.Parameter[];
  readonly idleSha256: string;
}

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

/**
 * The instance role's inline policy: Session Manager, its own parameters (secrets and idle.py), and a Deny on
 * every other parameter. A fleet adds a second inline policy of its own (./awsFleet.ts).
 */
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

/** Tags that never change for the life of a machine; EC2 stamps them at launch (the launch template's). */
export const IDENTITY_TAG_KEYS = ["qwen3-serve:project", "qwen3-serve:stack"] as const;

/** The scope of a component: one provider for every AWS resource and lookup (aws.region when set), tags, watchdog, region. */
export function awsScope<A extends AwsMachineArgs>(
  component: pulumi.ComponentResource,
  name: string,
  args: A,
  idle: IdleSettings,
): AwsScope<A> {
  // One provider for every AWS resource and lookup; other packages (random, command) keep their defaults.
  const provider =
    args.region === undefined
      ? undefined
      : new aws.Provider(`${name}-aws`, { region: args.region }, { parent: component });
  const parent = { parent: component, ...(provider !== undefined ? { provider } : {}) };
  const region = aws.getRegionOutput({}, parent).region;
  return { name, args, parent, family: AMI_FAMILIES[args.amiFamily], tags: { ...args.tags }, idle, region };
}

/** The tags EC2 stamps on a machine and its volume at launch: stable ones only, so they never force a new template. */
export function identityTags({ name, tags }: AwsScope): Record<string, string> {
  const stable = Object.fromEntries(IDENTITY_TAG_KEYS.flatMap((k) => (tags[k] !== undefined ? [[k, tags[k]]] : [])));
  return { ...stable, "qwen3-serve:component": name };
}

/** A per-stack API key stored with the optional HF token as SSM SecureStrings, and the watchdog's script. */
export function declareSecrets(component: pulumi.ComponentResource, { name, args, parent, tags }: AwsScope): Secrets {
  const parameterPrefix = args.parameterPrefix ?? defaultParameterPrefix(name);
  const key = declareApiKey(name, component);
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
  // With the weights mirror, the parameters carry the mirror's scripts too (user data has no room for them).
  const idleScript = idleScriptSsm(parameterPrefix, args.weightsMirror !== undefined ? { mirror: true } : {});
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

/** The instance role and its profile. */
export interface Identity {
  readonly role: aws.iam.Role;
  readonly profile: aws.iam.InstanceProfile;
}

/** SSM Session Manager, and read access to exactly this stack's parameters (nothing managed attached). */
export function declareIdentity({ name, parent, tags }: AwsScope, s: Secrets): Identity {
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
  return { role, profile: new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, parent) };
}

/** Where machines may launch: the VPC, the subnets of every zone offering a candidate, and each type's overrides. */
export interface Network {
  readonly vpcId: pulumi.Output<string>;
  /** The subnets (the given one, or the default subnet of every zone offering a candidate), sorted by zone. */
  readonly subnets: pulumi.Output<ZoneSubnet[]>;
  readonly overrides: (types: readonly string[]) => pulumi.Output<FleetOverride[]>;
}

/**
 * Where the fleet may launch: the given subnet, or the default VPC's default subnet in every zone that
 * offers a candidate (getSubnets per zone: a zone may have no default subnet, where getSubnet would fail).
 */
export function network({ parent }: AwsScope, types: readonly string[], subnetId: string | undefined): Network {
  const offerings = aws.ec2.getInstanceTypeOfferingsOutput(
    { locationType: "availability-zone", filters: [{ name: "instance-type", values: [...new Set(types)] }] },
    parent,
  );
  // Plain lists through the Outputs: pulumi.all would take a Map apart.
  const offered = offerings.apply((o) => ({ instanceTypes: o.instanceTypes, locations: o.locations }));
  if (subnetId !== undefined) {
    const subnet = aws.ec2.getSubnetOutput({ id: subnetId }, parent);
    const subnets = pulumi.all([subnet.id, subnet.availabilityZone]).apply(([id, zone]) => [{ id, zone }]);
    return { vpcId: subnet.vpcId, subnets, overrides: (t) => overridesOrRefuse(t, offered, subnets, subnetId) };
  }
  const vpc = aws.ec2.getVpcOutput({ default: true }, parent);
  const perZone = offerings.apply((o) =>
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
  const flat = perZone.apply((lists) => lists.flat());
  return { vpcId: vpc.id, subnets: flat, overrides: (t) => overridesOrRefuse(t, offered, flat, undefined) };
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

/** What a machine's user data adds to the shared settings: TLS on the machine (single only), fleet mode. */
export interface UserDataExtras {
  readonly tls?: { readonly domain: string; readonly email: string };
  readonly fleet?: (region: string) => FleetMachine;
  /** The weights mirror's bucket and reader role ({@link declareMirrorAccess} in ./awsMirror.ts). */
  readonly mirror?: MirrorWiring;
}

/** The gzipped cloud-init of one plan: each candidate type has its own TP size and serve command. */
export function userData(scope: AwsScope, s: Secrets, plan: Plan, extras: UserDataExtras = {}): pulumi.Output<string> {
  const { args, family, idle, region } = scope;
  return pulumi
    .all([
      s.apiKeyParam.name,
      s.hfParam?.name ?? pulumi.output(""),
      region,
      pulumi.all(s.idleParams.map((p) => p.name)),
      extras.mirror?.readRoleArn ?? pulumi.output(""),
    ])
    .apply(([apiKeyName, hfName, r, idleNames, readRoleArn]) => {
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
        ...(extras.tls !== undefined ? { tls: extras.tls } : {}),
        ...(args.engineImageDigest !== undefined ? { engineImageDigest: args.engineImageDigest } : {}),
        ...(extras.fleet !== undefined ? { fleet: extras.fleet(r) } : {}),
        ...(extras.mirror !== undefined
          ? {
              weightsMirror: weightsMirrorOf(
                plan,
                r,
                extras.mirror.args,
                readRoleArn,
                extras.mirror.compileCachePrefix,
              ),
            }
          : {}),
      });
      return gzipSync(renderCloudInit(files), { level: 9 }).toString("base64");
    });
}

/** How a component's launch templates differ: what they stamp, how a shutdown ends, the key pair, the user data. */
export interface TemplateOptions {
  readonly profile: aws.iam.InstanceProfile;
  readonly securityGroup: aws.ec2.SecurityGroup;
  /** The tags EC2 stamps on the instance and its volume; called once, after the AMI lookups. */
  readonly stamped: () => pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly shutdownBehavior: (plan: Plan) => "stop" | "terminate";
  readonly keyName?: string;
  readonly userData: (plan: Plan) => pulumi.Output<string>;
}

/**
 * A launch template per candidate plan: IMDSv2 only, an encrypted gp3 root on the AMI's own root device
 * (another device name adds a second volume instead of growing the root: terraform-aws-modules/terraform-aws-eks#281),
 * security groups without network interfaces (a fleet's subnet override ignores a template's interfaces:
 * aws/karpenter-provider-aws#3819), and no market options (the fleet or the group chooses the market).
 */
export function launchTemplateFactory(
  scope: AwsScope,
  o: TemplateOptions,
): (plan: Plan, suffix: string) => aws.ec2.LaunchTemplate {
  const { name, args, parent, family, tags } = scope;
  const imageId = args.amiId ?? aws.ssm.getParameterOutput({ name: family.ssmParameter }, parent).insecureValue;
  const rootDeviceName = aws.ec2.getAmiOutput(
    { filters: [{ name: "image-id", values: [imageId] }] },
    parent,
  ).rootDeviceName;
  const stamped = o.stamped();
  return (plan, suffix) =>
    new aws.ec2.LaunchTemplate(
      `${name}-${suffix}`,
      {
        description: `qwen3-serve ${name}: ${plan.instance.type}, TP ${plan.tensorParallelSize}`,
        imageId,
        instanceType: plan.instance.type,
        userData: o.userData(plan),
        instanceInitiatedShutdownBehavior: o.shutdownBehavior(plan),
        iamInstanceProfile: { name: o.profile.name },
        vpcSecurityGroupIds: [o.securityGroup.id],
        ...(o.keyName !== undefined ? { keyName: o.keyName } : {}),
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
              ...initializationRate(args.rootVolume),
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

/**
 * The root volume's provisioned initialization rate, when one is set. The root is created from the AMI's
 * snapshot, whose blocks otherwise load lazily from S3 on first read at a default rate that "fluctuates" (slow
 * driver, CUDA and Docker reads on a fresh machine; weights too once an AMI carries them). A provisioned rate
 * (100-300 MiB/s, allowed in launch templates) loads the snapshot at that rate from launch: the DLAMI's at most
 * 100 GiB take under 6 minutes at 300 MiB/s, in the background of the boot. Blocks the machine writes itself (the
 * downloaded weights) never need it. The cost trade: it is billed per volume created with it, so on every launch
 * and per fleet replica (price per GiB initialized: https://aws.amazon.com/ebs/pricing/, not confirmed here);
 * Fast Snapshot Restore instead bills $0.75 per DSU-hour per snapshot per zone where enabled (us-east-1), launches
 * or not, and needs a snapshot of one's own. Set 0 to turn it off. Sources, read 2026-11-30:
 * http://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ebs-initialize.html (range, launch templates);
 * https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/ec2/aws.sdk.kotlin.services.ec2.model/-ebs-block-device/volume-initialization-rate.html
 * ("supported only for volumes created from snapshots"; "Valid range: 100 - 300 MiB/s");
 * https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/amazon-ebs.html (FSR's price).
 */
function initializationRate(root: RootVolume): { volumeInitializationRate?: number } {
  const rate = root.initializationRateMiBps ?? 0;
  return rate > 0 ? { volumeInitializationRate: rate } : {};
}
