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
import * as random from "@pulumi/random";
import { gzipSync } from "node:zlib";
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { renderCloudInit, readinessTimeoutSeconds, STATUS_URL_PATH, type IdleSettings } from "../machine/render";
import type { Plan } from "../sizing/plan";
import { idleScriptSsm, machineFiles } from "../machine/assets";
import { curlExample, targetOutputsOf, type TargetOutputs } from "./outputs";

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
  /** HTTPS for this name; with a hosted zone the A record is created too. Port 80 opens to the internet for ACME (the config requires tls.openPort80ForAcme). */
  readonly tls?: { readonly domain: string; readonly email: string; readonly hostedZoneId?: string | undefined };
  /** gp3 root performance and extra size. */
  readonly rootVolume: { readonly throughputMiBps: number; readonly iops: number; readonly extraGiB: number };
  /** What an OS-initiated shutdown (the idle watchdog) does. */
  readonly shutdownBehavior: "stop" | "terminate";
  /** The idle watchdog: it powers the machine off, which shutdownBehavior turns into stop or terminate. */
  readonly idle: IdleSettings;
  /** Pin the engine image digest. */
  readonly engineImageDigest?: string;
  /** Hugging Face token for gated repos (secret). */
  readonly hfToken?: pulumi.Input<string>;
  /** Wait in `pulumi up` until a real completion succeeds. */
  readonly waitForReady: boolean;
  /** Prefix of the SSM parameter names, e.g. /qwen3-serve/dev. */
  readonly parameterPrefix: string;
  /** Tags for every resource. */
  readonly tags: Readonly<Record<string, string>>;
  /** Region for every AWS resource and lookup (an explicit provider); otherwise the default provider's (aws:region). */
  readonly region?: string;
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

/** One GPU EC2 host serving a Qwen3 model behind an authenticated OpenAI-compatible endpoint. */
export class GpuServer extends pulumi.ComponentResource implements TargetOutputs {
  /** OpenAI base URL, ending in /v1. */
  readonly endpoint: pulumi.Output<string>;
  /** The `model` value clients send. */
  readonly modelName: pulumi.Output<string>;
  /** The API key (secret). */
  readonly apiKey: pulumi.Output<string>;
  readonly instanceId: pulumi.Output<string>;
  /** Public IPv4, or empty for a private endpoint. */
  readonly publicIp: pulumi.Output<string>;
  readonly instanceType: pulumi.Output<string>;
  /** Planned price per hour (us-east-1 reference). */
  readonly pricePerHour: pulumi.Output<number>;
  /** The AMI the instance runs, for rebuilding it exactly. */
  readonly amiId: pulumi.Output<string>;
  /** `aws ssm start-session` to a shell on the machine. */
  readonly connectCommand: pulumi.Output<string>;
  /** `aws ssm start-session` that forwards the endpoint port to localhost. */
  readonly portForwardCommand: pulumi.Output<string>;
  /** A request to paste into a terminal (reads the key from the stack, never embeds it). */
  readonly curlExample: pulumi.Output<string>;
  /** Bootstrap status document URL (same key). */
  readonly statusUrl: pulumi.Output<string>;
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
    const plainParent = { parent: this };
    const family = AMI_FAMILIES[args.amiFamily];
    const tags = { ...args.tags };

    // ---- secrets: a per-stack API key, stored with the optional HF token as SSM SecureStrings ----
    const key = new random.RandomPassword(`${name}-api-key`, { length: 48, special: false }, plainParent);
    const apiKeyParam = new aws.ssm.Parameter(
      `${name}-api-key`,
      {
        name: `${args.parameterPrefix}/api-key`,
        type: "SecureString",
        value: key.result,
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
              name: `${args.parameterPrefix}/hf-token`,
              type: "SecureString",
              value: pulumi.secret(args.hfToken),
              description: "Hugging Face token for weight downloads",
              tags,
            },
            parent,
          );

    // ---- the idle watchdog: too big for EC2's 16 KiB of user data, so it waits in free Standard
    // String parameters (4 KB each) that the secrets phase joins, decodes and checks by hash ----
    const idleScript = idleScriptSsm(args.parameterPrefix);
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
        if (first === undefined)
          throw new Error(
            `no default subnet in a zone that offers ${plan.instance.type}; set qwen3-serve:aws.subnetId`,
          );
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
    if (!args.private)
      args.allowedCidrs.forEach((cidr, i) => ingress(`endpoint-${i}`, args.proxyPort, cidr, "qwen3-serve endpoint"));
    args.ssh?.allowedCidrs.forEach((cidr, i) => ingress(`ssh-${i}`, 22, cidr, "SSH"));
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
          idle: args.idle,
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
        tags: { ...tags, Name: `qwen3-serve-${name}` },
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

    let ready: pulumi.Output<string> = pulumi.output("not waited");
    if (args.waitForReady && !args.private) {
      const wait = new command.local.Command(
        `${name}-ready`,
        {
          create: "node --import tsx scripts/wait-ready.ts",
          environment: {
            QS_BASE_URL: base,
            // Secret already (the random provider marks it); said again so no refactor can lose it.
            QS_API_KEY: pulumi.secret(key.result),
            QS_MODEL: plan.serve.servedModelName,
            QS_TIMEOUT_SECONDS: String(readinessTimeoutSeconds(plan, !family.hasDriver)),
            QS_POLL_SECONDS: "10",
          },
          logging: "stdoutAndStderr",
          // Wait once per machine: on creation and on replacement, not on every update.
          triggers: [instance.id],
        },
        { parent: this, dependsOn: eipAssociation === undefined ? [instance] : [instance, eipAssociation] },
      );
      ready = wait.stdout.apply(() => "ready");
    }

    this.region = region;
    this.endpoint = pulumi.all([base, ready]).apply(([b]) => `${b}/v1`);
    this.modelName = pulumi.output(plan.serve.servedModelName);
    this.apiKey = pulumi.secret(key.result);
    this.instanceId = instance.id;
    this.publicIp = publicIp;
    this.instanceType = instance.instanceType;
    this.pricePerHour = pulumi.output(plan.instance.pricePerHour);
    this.amiId = instance.ami;
    this.connectCommand = pulumi.interpolate`aws ssm start-session --region ${region} --target ${instance.id}`;
    this.portForwardCommand = pulumi.interpolate`aws ssm start-session --region ${region} --target ${instance.id} --document-name AWS-StartPortForwardingSession --parameters portNumber=${args.proxyPort},localPortNumber=${args.proxyPort}`;
    this.statusUrl = pulumi.interpolate`${base}${STATUS_URL_PATH}`;
    this.curlExample = this.endpoint.apply((e) => curlExample(e, plan.serve.servedModelName));

    this.registerOutputs({ ...targetOutputsOf(this), region: this.region });
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
        delete: "node --import tsx scripts/cancel-spot-request.ts",
        environment: { QS_SPOT_REQUEST_ID: instance.spotInstanceRequestId, AWS_REGION: region },
      },
      { parent: this, dependsOn: [instance] },
    );
  }
}
