/**
 * `qwen3-serve:aws:GpuServer`: one right-sized, locked-down GPU instance that boots into the
 * bootstrap and serves the plan's model behind an API key. Creates the API key, its SSM
 * SecureString parameters, a scoped instance role, a security group with only the ingress asked
 * for, the instance (IMDSv2, encrypted gp3 root) and the readiness wait.
 */
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { gzipSync } from "node:zlib";
import { AMI_FAMILIES, type AmiFamilyName } from "../catalog/amis";
import { renderCloudInit, readinessTimeoutSeconds, STATUS_URL_PATH, type IdleSettings } from "../core/bootstrap";
import type { Plan } from "../core/plan";
import { ENGINES } from "../engines";
import { machineFiles } from "../machine";
import { curlExample, targetOutputsOf, type TargetOutputs } from "../targetOutputs";

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
  /** HTTPS for this name; with a hosted zone the A record is created too. Opens port 80 to the internet for ACME. */
  readonly tls?: { readonly domain: string; readonly email: string; readonly hostedZoneId?: string };
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

  constructor(name: string, args: GpuServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:aws:GpuServer", name, {}, opts);
    const parent = { parent: this };
    const { plan } = args;
    const family = AMI_FAMILIES[args.amiFamily];
    const tags = { ...args.tags };

    // ---- secrets: a per-stack API key, stored with the optional HF token as SSM SecureStrings ----
    const key = new random.RandomPassword(`${name}-api-key`, { length: 48, special: false }, parent);
    const apiKeyParam = new aws.ssm.Parameter(
      `${name}-api-key`,
      { name: `${args.parameterPrefix}/api-key`, type: "SecureString", value: key.result, description: "qwen3-serve endpoint API key", tags },
      parent,
    );
    const hfParam =
      args.hfToken === undefined
        ? undefined
        : new aws.ssm.Parameter(
            `${name}-hf-token`,
            { name: `${args.parameterPrefix}/hf-token`, type: "SecureString", value: pulumi.secret(args.hfToken), description: "Hugging Face token for weight downloads", tags },
            parent,
          );

    // ---- identity: SSM Session Manager, and read access to exactly this stack's parameters ----
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
    new aws.iam.RolePolicyAttachment(`${name}-ssm-core`, { role: role.name, policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }, parent);
    const paramArns = hfParam === undefined ? [apiKeyParam.arn] : [apiKeyParam.arn, hfParam.arn];
    new aws.iam.RolePolicy(
      `${name}-read-secrets`,
      {
        role: role.id,
        // SecureStrings use the AWS-managed aws/ssm key, whose key policy lets SSM decrypt for callers allowed to read the parameter.
        policy: pulumi.all(paramArns).apply((arns) =>
          JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["ssm:GetParameter"], Resource: arns }] }),
        ),
      },
      parent,
    );
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags }, parent);

    // ---- network: the given subnet, or the default VPC's subnet in a zone offering the type ----
    const invokeOpts = { parent: this };
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
        if (first === undefined) throw new Error(`no default subnet in a zone that offers ${plan.instance.type}; set qwen3-serve:aws.subnetId`);
        return first;
      });
    }

    const sg = new aws.ec2.SecurityGroup(`${name}-sg`, { vpcId, description: `qwen3-serve ${name}: endpoint ingress only`, tags }, parent);
    const ingress = (rule: string, port: number, cidr: string, description: string): void => {
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-${rule}`,
        { securityGroupId: sg.id, cidrIpv4: cidr, ipProtocol: "tcp", fromPort: port, toPort: port, description, tags },
        parent,
      );
    };
    if (!args.private) args.allowedCidrs.forEach((cidr, i) => ingress(`endpoint-${i}`, args.proxyPort, cidr, "qwen3-serve endpoint"));
    args.ssh?.allowedCidrs.forEach((cidr, i) => ingress(`ssh-${i}`, 22, cidr, "SSH"));
    // HTTP-01 validation comes from Let's Encrypt's servers; config validation demanded allowPublicIngress.
    if (args.tls !== undefined) ingress("acme", 80, "0.0.0.0/0", "Let's Encrypt HTTP-01");
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-egress`,
      { securityGroupId: sg.id, cidrIpv4: "0.0.0.0/0", ipProtocol: "-1", description: "downloads, SSM, package mirrors", tags },
      parent,
    );

    // ---- the machine ----
    const amiLookup =
      args.amiId ??
      aws.ssm.getParameterOutput({ name: family.ssmParameter }, invokeOpts).insecureValue;
    const userData = pulumi
      .all([apiKeyParam.name, hfParam?.name ?? pulumi.output(""), aws.getRegionOutput({}, invokeOpts).region])
      .apply(([apiKeyName, hfName, region]) => {
        const files = machineFiles(plan, {
          secrets: { source: "ssm", region, apiKeyParameter: apiKeyName, ...(hfName !== "" ? { hfTokenParameter: hfName } : {}) },
          proxyPort: args.proxyPort,
          driver: family.hasDriver ? "require" : "install",
          idle: args.idle,
          ...(args.tls !== undefined ? { tls: { domain: args.tls.domain, email: args.tls.email } } : {}),
          ...(args.engineImageDigest !== undefined ? { engineImageDigest: args.engineImageDigest } : {}),
        });
        return gzipSync(renderCloudInit(files), { level: 9 }).toString("base64");
      });

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
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1, instanceMetadataTags: "enabled" },
        rootBlockDevice: {
          volumeType: "gp3",
          volumeSize: family.osDiskGiB + plan.disk.totalGiB + args.rootVolume.extraGiB,
          iops: args.rootVolume.iops,
          throughput: args.rootVolume.throughputMiBps,
          encrypted: true,
          deleteOnTermination: true,
          tags,
        },
        ...(plan.instance.market === "spot"
          ? { instanceMarketOptions: { marketType: "spot", spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" } } }
          : {}),
        tags: { ...tags, Name: `qwen3-serve-${name}` },
      },
      // A new DLAMI release must not replace a running machine: the AMI is resolved once and kept
      // (pin aws.amiId, or `pulumi up --replace`, to move). A pinned AMI is honoured as given.
      { parent: this, ...(args.amiId === undefined ? { ignoreChanges: ["ami"] } : {}) },
    );
    // `pulumi up` starts a machine the idle watchdog stopped.
    new aws.ec2transitgateway.InstanceState(`${name}-running`, { instanceId: instance.id, state: "running" }, parent);

    const host: pulumi.Output<string> = args.tls !== undefined ? pulumi.output(args.tls.domain) : args.private ? pulumi.output("127.0.0.1") : instance.publicIp;
    if (args.tls?.hostedZoneId !== undefined) {
      new aws.route53.Record(`${name}-dns`, { zoneId: args.tls.hostedZoneId, name: args.tls.domain, type: "A", ttl: 60, records: [instance.publicIp] }, parent);
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
            QS_TIMEOUT_SECONDS: String(readinessTimeoutSeconds(plan, !family.hasDriver, ENGINES[plan.engine].installDiskGiB)),
            QS_POLL_SECONDS: "10",
          },
          logging: "stdoutAndStderr",
          // Wait once per machine: on creation and on replacement, not on every update.
          triggers: [instance.id],
        },
        { parent: this, dependsOn: [instance] },
      );
      ready = wait.stdout.apply(() => "ready");
    }

    const region = aws.getRegionOutput({}, invokeOpts).region;
    this.endpoint = pulumi.all([base, ready]).apply(([b]) => `${b}/v1`);
    this.modelName = pulumi.output(plan.serve.servedModelName);
    this.apiKey = pulumi.secret(key.result);
    this.instanceId = instance.id;
    this.publicIp = args.private ? pulumi.output("") : instance.publicIp;
    this.instanceType = instance.instanceType;
    this.pricePerHour = pulumi.output(plan.instance.pricePerHour);
    this.amiId = instance.ami;
    this.connectCommand = pulumi.interpolate`aws ssm start-session --region ${region} --target ${instance.id}`;
    this.portForwardCommand = pulumi.interpolate`aws ssm start-session --region ${region} --target ${instance.id} --document-name AWS-StartPortForwardingSession --parameters portNumber=${args.proxyPort},localPortNumber=${args.proxyPort}`;
    this.statusUrl = pulumi.interpolate`${base}${STATUS_URL_PATH}`;
    this.curlExample = this.endpoint.apply((e) => curlExample(e, plan.serve.servedModelName));

    this.registerOutputs(targetOutputsOf(this));
  }
}
