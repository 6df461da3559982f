/**
 * `qwen3-serve:aws:GpuServer`: one right-sized, locked-down GPU instance that boots into the
 * bootstrap and serves the plan's model behind an API key. Creates the API key, its SSM
 * SecureString parameters, the idle watchdog's String parameters, a scoped instance role, a
 * security group with only the ingress asked for, the instance (IMDSv2, encrypted gp3 root), an
 * Elastic IP for a public endpoint and the readiness wait; every AWS resource and lookup goes
 * through one provider (aws.region when set).
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
import { declareApiKey } from "./apiKey";
import { targetOutputs, targetOutputsOf, TargetServer } from "./outputs";
import { declareReadinessWait } from "./readinessWait";

/** Inputs of {@link GpuServer}. */
export interface GpuServerArgs {
  /** The sizing decision; instance type, disk and serve command come from it. */
  readonly plan: Plan;
  /** Image family (Deep Learning AMI or plain Ubuntu). */
  readonly amiFamily: AmiFamilyName;
  /** Exact AMI to use; otherwise the family's latest, resolved once and kept on later updates. */
  readonly amiId?: string;
  /** Subnet; default: the default VPC's subnet in a zone that offers the instance type. */
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

/**
 * Spot request shape for the shutdown behaviour. Stop needs a persistent request ("The Spot
 * Instance request type must be persistent", and only EC2 restarts an interrupted one:
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html). A persistent
 * request "remains active until it expires or you cancel it, even if the request is fulfilled",
 * so terminating its instance makes EC2 launch another; terminate therefore uses a one-time
 * request, which "remains active until Amazon EC2 launches the Spot Instance" and is then done
 * (EC2 User Guide, spot-requests.html, as quoted by the CDK's SpotRequestType). Both read 2026-11-30.
 */
export function spotOptionsFor(shutdownBehavior: "stop" | "terminate"): {
  spotInstanceType: "persistent" | "one-time";
  instanceInterruptionBehavior: "stop" | "terminate";
} {
  return shutdownBehavior === "stop"
    ? { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" }
    : { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" };
}

/**
 * One GPU EC2 host serving a Qwen3 model behind an authenticated OpenAI-compatible endpoint.
 *
 * Outputs: `instanceId` and `instanceType` are the EC2 instance's, `publicIp` its Elastic IP (empty when private),
 * `pricePerHour` the planned us-east-1 reference price, `amiId` the AMI it runs, and `connectCommand` and
 * `portForwardCommand` are `aws ssm start-session` commands.
 */
export class GpuServer extends TargetServer {
  /** The region every resource lives in (the reaper reads it from the `awsRegion` stack output). */
  readonly region: pulumi.Output<string>;

  constructor(name: string, args: GpuServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:aws:GpuServer", name, {}, opts);
    const { plan } = args;
    // One provider for every AWS resource and lookup; other packages (random, command) keep their defaults.
    const provider =
      args.region === undefined
        ? undefined
        : new aws.Provider(`${name}-aws`, { region: args.region }, { parent: this });
    const parent = { parent: this, ...(provider !== undefined ? { provider } : {}) };
    const family = AMI_FAMILIES[args.amiFamily];
    const tags = { ...args.tags };
    const parameterPrefix = args.parameterPrefix ?? defaultParameterPrefix(name);
    const idle: IdleSettings = {
      ...args.idle,
      action: args.idle.action ?? "poweroff",
      fromInstanceTags: args.idle.fromInstanceTags ?? true,
    };

    // ---- secrets: a per-stack API key, stored with the optional HF token as SSM SecureStrings ----
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

    // ---- the idle watchdog: too big for EC2's 16 KiB of user data, so it waits in free Standard
    // String parameters (4 KB each) that the secrets phase joins, decodes and checks by hash ----
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

    // ---- identity: SSM Session Manager, and read access to exactly this stack's parameters (nothing managed attached) ----
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
      apiKeyParam.arn,
      ...(hfParam === undefined ? [] : [hfParam.arn]),
      ...idleParams.map((p) => p.arn),
    ];
    new aws.iam.RolePolicy(
      `${name}-instance`,
      { role: role.name, policy: pulumi.all(paramArns).apply((arns) => instancePolicy(arns)) },
      parent,
    );
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, parent);

    // ---- network: the given subnet, or the default VPC's subnet in a zone offering the type ----
    const invokeOpts = parent;
    let subnetId: pulumi.Output<string>;
    let vpcId: pulumi.Output<string>;
    if (args.subnetId !== undefined) {
      const subnet = aws.ec2.getSubnetOutput({ id: args.subnetId }, invokeOpts);
      subnetId = subnet.id;
      vpcId = subnet.vpcId;
    } else {
      const vpc = aws.ec2.getVpcOutput({ default: true }, invokeOpts);
      const zones = aws.ec2.getInstanceTypeOfferingsOutput(
        { locationType: "availability-zone", filters: [{ name: "instance-type", values: [plan.instance.type] }] },
        invokeOpts,
      ).locations;
      const subnets = aws.ec2.getSubnetsOutput(
        {
          filters: [
            { name: "vpc-id", values: [vpc.id] },
            { name: "default-for-az", values: ["true"] },
            { name: "availability-zone", values: zones },
          ],
        },
        invokeOpts,
      );
      vpcId = vpc.id;
      subnetId = subnets.ids.apply((ids) => {
        const first = [...ids].sort()[0];
        if (first === undefined) {
          throw new UserError({
            key: "subnetId",
            value: "(default VPC)",
            problem: `the default VPC has no default subnet in a zone that offers ${plan.instance.type}.`,
            hint: "Give a subnet in such a zone (a stack sets it as aws.subnetId), or pin another instance type.",
          });
        }
        return first;
      });
    }

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

    // ---- the machine ----
    const amiLookup = args.amiId ?? aws.ssm.getParameterOutput({ name: family.ssmParameter }, invokeOpts).insecureValue;
    // The parameters' own names (outputs), so the instance boots only once they exist.
    const userData = pulumi
      .all([
        apiKeyParam.name,
        hfParam?.name ?? pulumi.output(""),
        aws.getRegionOutput({}, invokeOpts).region,
        pulumi.all(idleParams.map((p) => p.name)),
      ])
      .apply(([apiKeyName, hfName, region, idleNames]) => {
        const files = machineFiles(plan, {
          secrets: {
            source: "ssm",
            region,
            apiKeyParameter: apiKeyName,
            ...(hfName !== "" ? { hfTokenParameter: hfName } : {}),
          },
          idleFromSsm: { parameters: idleNames, sha256: idleScript.sha256 },
          proxyPort: args.proxyPort,
          driver: family.hasDriver ? "require" : "install",
          idle,
          ...(args.tls !== undefined ? { tls: { domain: args.tls.domain, email: args.tls.email } } : {}),
          ...(args.engineImageDigest !== undefined ? { engineImageDigest: args.engineImageDigest } : {}),
        });
        return gzipSync(renderCloudInit(files), { level: 9 }).toString("base64");
      });

    const spot = plan.instance.market === "spot";
    const instance = new aws.ec2.Instance(
      name,
      {
        ami: amiLookup,
        instanceType: plan.instance.type,
        subnetId,
        vpcSecurityGroupIds: [sg.id],
        iamInstanceProfile: profile.name,
        associatePublicIpAddress: !args.private,
        ...(args.ssh !== undefined ? { keyName: args.ssh.keyName } : {}),
        userDataBase64: userData,
        // A changed plan or bootstrap rebuilds the machine from scratch rather than editing it in place.
        userDataReplaceOnChange: true,
        instanceInitiatedShutdownBehavior: args.shutdownBehavior,
        // Tags in metadata: the idle watchdog reads its window and TTL from them each minute.
        metadataOptions: {
          httpTokens: "required",
          httpEndpoint: "enabled",
          httpPutResponseHopLimit: 1,
          instanceMetadataTags: "enabled",
        },
        rootBlockDevice: {
          volumeType: "gp3",
          volumeSize: family.osDiskGiB + plan.disk.totalGiB + args.rootVolume.extraGiB,
          iops: args.rootVolume.iops,
          throughput: args.rootVolume.throughputMiBps,
          encrypted: true,
          deleteOnTermination: true,
          tags,
        },
        ...(spot
          ? { instanceMarketOptions: { marketType: "spot", spotOptions: spotOptionsFor(args.shutdownBehavior) } }
          : {}),
        // The watchdog's settings, where it reads them from the instance's tags.
        tags: { ...tags, ...(idle.fromInstanceTags === true ? watchdogTags(idle) : {}), Name: `qwen3-serve-${name}` },
      },
      // A new DLAMI release must not replace a running machine: the AMI is resolved once and kept
      // (pin aws.amiId, or `pulumi up --replace`, to move). A pinned AMI is honoured as given.
      { ...parent, ...(args.amiId === undefined ? { ignoreChanges: ["ami"] } : {}) },
    );
    const region = aws.getRegionOutput({}, invokeOpts).region;
    this.declareLifecycle(name, instance, { spot, shutdownBehavior: args.shutdownBehavior, region }, parent);

    // A stopped instance gives its public IP back; an Elastic IP stays, so the endpoint, the DNS
    // record and the key's destination survive idle stops and spot interruptions.
    const eip = args.private ? undefined : new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags }, parent);
    const eipAssociation =
      eip === undefined
        ? undefined
        : new aws.ec2.EipAssociation(
            `${name}-eip`,
            { instanceId: instance.id, allocationId: eip.allocationId },
            parent,
          );
    // Not instance.publicIp: "this field will change after the EIP is attached" (@pulumi/aws 7.48 ec2/eip.d.ts, publicIp).
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
    const scheme = args.tls !== undefined ? "https" : "http";
    const base = pulumi.interpolate`${scheme}://${host}:${args.proxyPort}`;

    const ready =
      args.waitForReady && !args.private
        ? declareReadinessWait(
            name,
            {
              baseUrl: base,
              apiKey: key,
              model: plan.serve.servedModelName,
              timeoutSeconds: readinessTimeoutSeconds(plan, !family.hasDriver),
              hasStatus: true,
              // Wait once per machine: on creation and on replacement, not on every update.
              triggers: [instance.id],
            },
            { parent: this, dependsOn: eipAssociation === undefined ? [instance] : [instance, eipAssociation] },
          )
        : pulumi.output("not waited");

    const session = pulumi.interpolate`aws ssm start-session --region ${region} --target ${instance.id}`;
    const forward = `--parameters portNumber=${args.proxyPort},localPortNumber=${args.proxyPort}`;
    const outputs = targetOutputs({
      baseUrl: base,
      readyWhen: ready,
      modelName: plan.serve.servedModelName,
      apiKey: key,
      instanceId: instance.id,
      publicIp,
      instanceType: instance.instanceType,
      pricePerHour: plan.instance.pricePerHour,
      amiId: instance.ami,
      connectCommand: session,
      portForwardCommand: pulumi.interpolate`${session} --document-name AWS-StartPortForwardingSession ${forward}`,
      statusUrl: pulumi.interpolate`${base}${STATUS_URL_PATH}`,
    });
    this.region = region;
    this.finish(outputs, { region });
  }

  /**
   * What keeps the machine in the intended state across its life.
   *
   * On-demand: an InstanceState that asks for "running". It acts only when its recorded state
   * differs, so it starts a machine the watchdog stopped only when `pulumi up` refreshes first
   * (Pulumi.yaml sets `options.refresh: always`; or `pulumi up --refresh`).
   *
   * Spot: no InstanceState. EC2 alone may restart a spot instance that an interruption stopped, so
   * StartInstances would fail there and with it every `pulumi up`. A persistent request (idleAction
   * stop) is cancelled before its instance goes, on destroy or replacement: terminating the
   * instance alone would leave the request active and EC2 would launch an untracked replacement.
   * The provider's own delete skips its cancel step for these instances (terraform-provider-aws
   * issue 38142, "aws_instance instance_market_options: Persistent type creates untracked
   * resource"; its fix, PR 41206, was still open when read on 2026-11-30). Cancelling twice is
   * harmless, so this stays right if a later provider cancels too.
   */
  private declareLifecycle(
    name: string,
    instance: aws.ec2.Instance,
    {
      spot,
      shutdownBehavior,
      region,
    }: { spot: boolean; shutdownBehavior: "stop" | "terminate"; region: pulumi.Output<string> },
    opts: pulumi.CustomResourceOptions,
  ): void {
    if (!spot) {
      new aws.ec2transitgateway.InstanceState(`${name}-running`, { instanceId: instance.id, state: "running" }, opts);
      return;
    }
    if (shutdownBehavior !== "stop") return;
    new command.local.Command(
      `${name}-cancel-spot-request`,
      {
        delete: nodeScriptCommand("cancel-spot-request"),
        environment: { QS_SPOT_REQUEST_ID: instance.spotInstanceRequestId, AWS_REGION: region },
      },
      { parent: this, dependsOn: [instance] },
    );
  }
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

/** The cheapest fitting instance; a pinned type that cannot hold the model names the type. */
function fittedAwsPlan(config: AwsStackConfig): Plan {
  const pinned = config.aws.instanceType;
  // A region the catalog does not price keeps us-east-1 prices and types, as every region did before.
  const region = config.aws.region;
  const request = {
    ...planRequestFrom(config),
    ...(region !== undefined && findRegion(region) !== undefined ? { region } : {}),
  };
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

/** Declare the AWS stack: CIDRs resolved and the vCPU quota checked first, then one {@link GpuServer}. */
async function declareAws(config: AwsStackConfig, plan: Plan, ctx: StackContext): Promise<DeclaredOutputs> {
  const aws = config.aws;
  const allowedCidrs = await resolveCidrs(aws.allowedCidrs ?? [], ctx);
  const ssh =
    aws.ssh === undefined
      ? {}
      : { ssh: { keyName: aws.ssh.keyName, allowedCidrs: await resolveCidrs(aws.ssh.allowedCidrs, ctx) } };
  if (!aws.skipQuotaCheck) {
    await checkQuota({
      instance: plan.instance,
      ...(aws.region !== undefined ? { region: aws.region } : {}),
      project: ctx.project,
      stack: ctx.stack,
      ...(ctx.warn !== undefined ? { warn: ctx.warn } : {}),
    });
  }
  const gpu = new GpuServer(ctx.stack, {
    plan,
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
  return { ...targetOutputsOf(gpu), awsRegion: gpu.region };
}

/** The AWS target: plans over the instance catalog, declares one {@link GpuServer}. */
export const awsTarget: Target<AwsStackConfig> = { plan: planAws, declare: declareAws };
