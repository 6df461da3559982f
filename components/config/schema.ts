/**
 * The stack config schema: every key in the `qwen3-serve` namespace, validated strictly with zod
 * before anything is declared. Misspelled keys, bad values and contradictory settings fail with
 * the key, the value, how to fix it and the valid choices.
 */
import { z } from "zod";
import { AMI_FAMILY_NAMES } from "../catalog/amis";
import { GPU_INSTANCES } from "../catalog/gpus";
import type { GpuModel } from "../catalog/gpus";
import { KNOWN_GPU_NAMES, KNOWN_GPUS } from "../catalog/workstationGpus";
import { cidrText, hasHostBits, isBroadPublic, networkOf, parseCidr, PRIVATE_RANGES } from "./cidr";
import { UserError } from "../errors/userError";
import { connectionHostKey } from "./hostKey";
import { ContextSchema, DEFAULT_CONTEXT, PlanRequestSchema, type PlanRequest } from "../sizing/request";
import { zodToUserError } from "../errors/zodErrors";

/** Config namespace: keys are `qwen3-serve:<key>`. */
export const CONFIG_NAMESPACE = "qwen3-serve";
/** Where the endpoint can run (components/targets/registry.ts holds each target's module). */
export const TARGET_NAMES = ["aws", "workstation", "docker"] as const;
/** One target name. */
export type TargetName = (typeof TARGET_NAMES)[number];
/** Tag keys this program sets and acts on (idle window, TTL, owner): user tags may not use the prefix. */
export const RESERVED_TAG_PREFIX = "qwen3-serve:";
/** Stands for the deployer's own public IPv4 address as a /32, resolved at deploy time. */
export const MY_IP = "myip";
/** Where an AWS machine gets its weights: from the source (Hugging Face, the Ollama registry), or the shared S3 mirror. */
export const WEIGHTS_CACHE_MODES = ["off", "s3"] as const;
/** One `aws.weightsCache` choice. */
export type WeightsCacheMode = (typeof WEIGHTS_CACHE_MODES)[number];

const allowedCidr = z.union(
  [z.literal(MY_IP), z.cidrv4()],
  `must be an IPv4 CIDR such as 203.0.113.0/24, or "${MY_IP}"`,
);
const TYPES = GPU_INSTANCES.map((i) => i.type) as [string, ...string[]];

/** Settings of the AWS target (`qwen3-serve:aws`). */
export const AwsSettingsSchema = z.strictObject({
  /** Region of every resource (an explicit AWS provider); defaults to the aws:region provider setting. */
  region: z
    .string()
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d+$/, "must be an AWS region such as us-east-1")
    .optional(),
  /** Pin the instance type instead of letting the plan choose; it must hold the model. */
  instanceType: z.enum(TYPES).optional(),
  /** Image family: the Deep Learning AMI (driver preinstalled) or plain Ubuntu (driver installed, one reboot). */
  ami: z.enum(AMI_FAMILY_NAMES).default("dlami-ubuntu-24.04"),
  /** Pin an exact AMI for reproducible machines; otherwise the family's latest is resolved once and kept. */
  amiId: z
    .string()
    .regex(/^ami-[0-9a-f]{8,17}$/, "must look like ami-0123456789abcdef0")
    .optional(),
  /** Subnet to launch in; defaults to the default VPC's subnet in a zone that offers the type. */
  subnetId: z
    .string()
    .regex(/^subnet-[0-9a-f]{8,17}$/, "must look like subnet-0123456789abcdef0")
    .optional(),
  /** Who may reach the endpoint port. Required unless private. */
  allowedCidrs: z.array(allowedCidr).min(1).optional(),
  /** Explicitly allow public ranges broader than a /8 (such as 0.0.0.0/0) in allowedCidrs and ssh.allowedCidrs. */
  allowPublicIngress: z.boolean().default(false),
  /** No public port and no public IP: reach the endpoint through an SSM port forward. */
  private: z.boolean().default(false),
  /** Optional SSH access with an EC2 key pair, from these CIDRs only. */
  ssh: z.strictObject({ keyName: z.string().min(1), allowedCidrs: z.array(allowedCidr).min(1) }).optional(),
  /** Public port of the authenticating proxy. */
  proxyPort: z.int().min(1024, "must be 1024 or above").max(65535).default(8080),
  /**
   * HTTPS for this name. A single machine: a Let's Encrypt certificate (email required), and a Route 53 zone id
   * makes the DNS record too. A fleet: an ACM certificate on the load balancer, validated and pointed at it in
   * the Route 53 zone hostedZoneId (required there).
   */
  tls: z
    .strictObject({
      domain: z.hostname(),
      /** Let's Encrypt account email; single machine only (required there). */
      email: z.email().optional(),
      hostedZoneId: z
        .string()
        .regex(/^Z[0-9A-Z]{5,32}$/)
        .optional(),
      /** Open port 80 to the whole internet for Let's Encrypt's HTTP-01 check; required with tls on a single machine. */
      openPort80ForAcme: z.boolean().default(false),
    })
    .optional(),
  /** gp3 root volume performance for fast weight loading. */
  rootVolume: z
    .strictObject({
      throughputMiBps: z.int().min(125).max(1000).default(500),
      iops: z.int().min(3000).max(16000).default(3000),
      extraGiB: z.int().min(0).max(16000).default(0),
      /** EBS Provisioned Rate for Volume Initialization of the root (from the AMI's snapshot): 100-300 MiB/s, or 0 for off. */
      initializationRateMiBps: z.int().min(0).max(300).default(300),
    })
    .default({ throughputMiBps: 500, iops: 3000, extraGiB: 0, initializationRateMiBps: 300 }),
  /** Wait during `pulumi up` until the endpoint answers a real chat completion. */
  waitForReady: z.boolean().default(true),
  /** Skip the vCPU quota check before launch (for roles that cannot read Service Quotas or EC2 instances). */
  skipQuotaCheck: z.boolean().default(false),
  /** How many of the plan's next cheapest types the launch may fall back to when the first has no capacity (0 to 5). */
  fallbackTypes: z.int().min(0).max(5).default(2),
  /** With spot: "on-demand" launches on-demand when no spot capacity is found; "none" fails instead. */
  spotFallback: z.enum(["none", "on-demand"]).default("none"),
  /** Pin the engine image digest (sha256:...). */
  engineImageDigest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, "must be sha256: followed by 64 hex digits")
    .optional(),
  /**
   * "s3": read the weights from the account's shared, in-region S3 mirror (`npm run shared` creates it); the first
   * machine to need a model seeds it. Needs modelRevision: the mirror keys models by exact revision.
   */
  weightsCache: z.enum(WEIGHTS_CACHE_MODES).default("off"),
});

/**
 * The GPUs of a machine we do not size but serve on: a known card and how many. The validated value
 * also carries `gpu`, the card's catalog row with any memory override applied.
 */
export const MachineGpusSchema = z
  .strictObject({
    /** A known card (see KNOWN_GPU_NAMES), e.g. RTX-4090, L40S, H100. */
    model: z.enum(KNOWN_GPU_NAMES as [string, ...string[]]),
    count: z.int().min(1).max(16),
    /** Memory per GPU as nvidia-smi reports it, MiB, when it differs from the table (e.g. a display takes some). */
    memoryMiB: z.int().min(4096).optional(),
  })
  .transform((g, ctx) => {
    const known = KNOWN_GPUS[g.model];
    if (known === undefined) {
      // The enum above only lets known names through; this keeps the lookup total for the type checker.
      ctx.addIssue({ code: "custom", message: "not a known GPU", input: g.model, path: ["model"] });
      return z.NEVER;
    }
    const gpu: GpuModel = g.memoryMiB === undefined ? known : { ...known, usableMiB: g.memoryMiB };
    return { ...g, gpu };
  });

/** How to get the workstation's host key line; said wherever it is missing or wrong. */
const HOST_KEY_HINT =
  "Set workstation.hostKey to the machine's ed25519 host key as one known_hosts line: the output of `ssh-keyscan -t ed25519 <host>` " +
  "(add `-p <port>` when SSH is not on 22), checked against `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the machine itself";

/** Settings of the workstation target (`qwen3-serve:workstation`): an existing Linux GPU box over SSH. */
export const WorkstationSettingsSchema = z.strictObject({
  /** Host name or IP address the deployer reaches over SSH, also used in the endpoint URL. */
  host: z.string().min(1),
  port: z.int().min(1).max(65535).default(22),
  /** SSH user: root, or one with passwordless sudo. */
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/, "must be a Linux user name")
    .default("ubuntu"),
  gpus: MachineGpusSchema,
  /** Host RAM, GiB; checked against the weights when given. */
  ramGiB: z.int().min(1).optional(),
  /** Public port of the authenticating proxy. */
  proxyPort: z.int().min(1024, "must be 1024 or above").max(65535).default(8080),
  /** Also delete the downloaded weights on `pulumi destroy` (kept by default). */
  purgeWeightsOnDestroy: z.boolean().default(false),
  /** The machine's SSH host key, one known_hosts line: the connection refuses any other key before it sends a secret. */
  hostKey: z.string().min(1).describe(HOST_KEY_HINT),
});

/** The Docker target's default bind address: loopback only, closed until the stack opens it. */
export const LOOPBACK = "127.0.0.1";

/** Settings of the Docker target (`qwen3-serve:docker`): any Docker host with the NVIDIA container toolkit. */
export const DockerSettingsSchema = z.strictObject({
  /** Docker daemon: unix:///var/run/docker.sock (default), ssh://user@host or tcp://host:2376. */
  host: z
    .string()
    .regex(/^(unix|ssh|tcp):\/\//, "must start with unix://, ssh:// or tcp://")
    .optional(),
  gpus: MachineGpusSchema,
  /** GPUs for the engine container: all, or device=0,1. */
  gpuDevices: z
    .string()
    .regex(/^(all|device=\d+(,\d+)*)$/, 'must be "all" or like "device=0,1"')
    .default("all"),
  /**
   * Host address the proxy's port is published on. Docker's published ports bypass the host's
   * firewall (its own iptables rules come first), so the default is loopback: reach it through an
   * SSH port forward, or name an address of the host (0.0.0.0 for all) to open it.
   */
  bindAddress: z
    .union(
      [z.ipv4(), z.ipv6()],
      'must be an IP address of the Docker host, such as 127.0.0.1, 192.0.2.20 or "0.0.0.0" for all',
    )
    .default(LOOPBACK),
  /** Host name clients use in the endpoint URL; defaults to the bind address, or for 0.0.0.0 the daemon's host. */
  publicHost: z.string().min(1).optional(),
  /** Port the proxy container publishes. */
  proxyPort: z.int().min(1024, "must be 1024 or above").max(65535).default(8080),
  /** Pin the engine image digest (sha256:...). */
  engineImageDigest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, "must be sha256: followed by 64 hex digits")
    .optional(),
  /** Wait in `pulumi up` for a real completion through the proxy. */
  waitForReady: z.boolean().default(true),
});

const planShape = PlanRequestSchema.shape;

/**
 * Fleet mode (`qwen3-serve:fleet`, AWS only): replicas in an Auto Scaling group behind a load balancer.
 * maxReplicas is capped at 100: the issue's fleets are 1 to 10 replicas, and a typo of 1000 GPUs should fail here.
 */
export const FleetSchema = z.strictObject({
  /** Replicas kept at all times; 0 lets the fleet go to zero after idleMinutes without a request. */
  minReplicas: z.int().min(0).max(100).default(0),
  /** Most replicas scaling may add. */
  maxReplicas: z.int().min(1).max(100),
  /** Requests running + waiting per replica that target tracking keeps the fleet at (vLLM, SGLang). */
  targetQueuePerReplica: z.number().positive().max(1000).default(4),
});

/** Every key of the `qwen3-serve` namespace. */
export const StackConfigSchema = z.strictObject({
  model: planShape.model,
  engine: planShape.engine,
  quantization: planShape.quantization,
  // No default here, so a stack that leaves context open lets a given machine shrink it to fit.
  context: ContextSchema.optional(),
  concurrency: planShape.concurrency,
  modelRevision: planShape.modelRevision,
  families: planShape.families,
  instanceTypes: planShape.instanceTypes,
  maxPricePerHour: planShape.maxPricePerHour,
  /** AWS only: refuse a plan over this many USD a month at 730 h (x fleet.maxReplicas on a fleet). */
  maxMonthlyCost: planShape.maxMonthlyCost,
  objective: planShape.objective,
  minTokensPerSecond: planShape.minTokensPerSecond,
  spot: planShape.spot,
  /** Where to run the endpoint. */
  target: z.enum(TARGET_NAMES).default("aws"),
  /** Who owns the machine, for the owner tag. */
  owner: z.string().min(1).max(128).optional(),
  /** Extra tags on every resource. */
  // EC2 serves instance tags to the idle watchdog through instance metadata, which refuses keys
  // with spaces or "/" (and ".", "..", "_index"): refuse them here, before anything launches.
  tags: z
    .record(
      z
        .string()
        .regex(
          /^(?!\.{1,2}$|_index$)[A-Za-z0-9+\-=.,_:@]{1,128}$/,
          "tag keys are 1-128 letters, digits and + - = . , _ : @ (no spaces or /)",
        ),
      z.string().max(256),
    )
    .default({}),
  /** Minutes without inference requests before the machine stops itself, or "off". */
  idleMinutes: z
    .union([z.int().min(5).max(10080), z.literal("off")], 'must be whole minutes (5 to 10080) or "off"')
    .default("off"),
  /** An interactive login (SSH) on the machine counts as activity for the idle watchdog. */
  idleCountsSsh: z.boolean().default(false),
  /** Hard time-to-live in hours after boot, whatever the traffic. */
  ttlHours: z.number().positive().max(8760).optional(),
  /** When the stack should be destroyed by the reaper, ISO 8601. */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  /** What an idle or expired cloud machine does: stop (disk kept, still billed) or terminate. */
  idleAction: z.enum(["stop", "terminate"]).default("stop"),
  /** Hugging Face token for gated downloads; set it with `pulumi config set --secret`. */
  hfToken: z.string().min(1).optional(),
  /** SSH private key for the workstation target; set it with `pulumi config set --secret`. */
  sshPrivateKey: z.string().min(1).optional(),
  /** AWS target only: serve from an Auto Scaling group of replicas behind a load balancer instead of one machine. */
  fleet: FleetSchema.optional(),
  /** AWS target settings. */
  aws: AwsSettingsSchema.optional(),
  /** Workstation target settings. */
  workstation: WorkstationSettingsSchema.optional(),
  /** Docker target settings. */
  docker: DockerSettingsSchema.optional(),
});

/** The config as the schema alone shapes it, before the rules that tie the target to its settings. */
type ParsedConfig = z.output<typeof StackConfigSchema>;
/** Keys every target reads. */
export type CommonConfig = Omit<ParsedConfig, TargetName | "target" | "fleet">;
/** A validated config for the AWS target. */
export interface AwsStackConfig extends CommonConfig {
  readonly target: "aws";
  readonly aws: AwsSettings;
  /** Fleet mode: an Auto Scaling group behind a load balancer; a single machine when absent. */
  readonly fleet?: FleetConfig;
  readonly workstation?: undefined;
  readonly docker?: undefined;
}
/** A validated config for the workstation target: its settings and the SSH key are both set. */
export interface WorkstationStackConfig extends CommonConfig {
  readonly target: "workstation";
  readonly workstation: WorkstationSettings;
  readonly sshPrivateKey: string;
  readonly aws?: undefined;
  readonly docker?: undefined;
}
/** A validated config for the Docker target. */
export interface DockerStackConfig extends CommonConfig {
  readonly target: "docker";
  readonly docker: DockerSettings;
  readonly aws?: undefined;
  readonly workstation?: undefined;
}
/** Validated stack config: one target and that target's settings, tied by type. */
export type StackConfig = AwsStackConfig | WorkstationStackConfig | DockerStackConfig;
/** The validated GPUs of a workstation or Docker host, with their catalog row. */
export type MachineGpusSettings = z.output<typeof MachineGpusSchema>;
/** Validated AWS settings. */
export type AwsSettings = z.output<typeof AwsSettingsSchema>;
/** The validated `fleet` block, defaults applied. */
export type FleetConfig = z.output<typeof FleetSchema>;
/** Validated workstation settings. */
export type WorkstationSettings = z.output<typeof WorkstationSettingsSchema>;
/** Validated Docker settings. */
export type DockerSettings = z.output<typeof DockerSettingsSchema>;

function refuse(key: string, value: unknown, problem: string, hint: string, choices?: readonly string[]): never {
  throw new UserError({ key, value, problem, hint, ...(choices !== undefined ? { choices } : {}) });
}

/** Rules that span keys, checked after the shape; the CIDR lists come back in canonical form. */
function checkAws(aws: AwsSettings | undefined, fleet: boolean): AwsSettings {
  if (aws === undefined) {
    return refuse(
      "aws",
      "(missing)",
      "the aws target needs its settings.",
      `Set ${CONFIG_NAMESPACE}:aws with at least allowedCidrs (e.g. ["${MY_IP}"]) or private: true.`,
    );
  }
  if (aws.private) checkPrivate(aws);
  else if (aws.allowedCidrs === undefined) {
    refuse(
      "aws.allowedCidrs",
      "(missing)",
      "required: who may reach the endpoint port.",
      `List CIDRs such as ["${MY_IP}"] or ["203.0.113.0/24"], or set private: true and reach it through an SSM port forward.`,
    );
  }
  const allowedCidrs =
    aws.allowedCidrs === undefined
      ? undefined
      : checkCidrList("aws.allowedCidrs", aws.allowedCidrs, aws.allowPublicIngress);
  const ssh =
    aws.ssh === undefined
      ? undefined
      : {
          ...aws.ssh,
          allowedCidrs: checkCidrList("aws.ssh.allowedCidrs", aws.ssh.allowedCidrs, aws.allowPublicIngress),
        };
  if (aws.tls !== undefined && !fleet && aws.tls.email === undefined) {
    refuse(
      "aws.tls.email",
      "(missing)",
      "Let's Encrypt needs an account email to issue the certificate.",
      "Set aws.tls.email to an address that may receive expiry notices, or drop tls.",
    );
  }
  if (aws.tls !== undefined && !fleet && !aws.tls.openPort80ForAcme) {
    refuse(
      "aws.tls.openPort80ForAcme",
      aws.tls.openPort80ForAcme,
      "Let's Encrypt's HTTP-01 check must reach port 80 from the whole internet to issue the certificate.",
      "Set aws.tls.openPort80ForAcme: true to open port 80 to everyone (only the ACME challenge is answered there), or drop tls.",
      ["true"],
    );
  }
  if (aws.rootVolume.throughputMiBps > aws.rootVolume.iops / 4) {
    refuse(
      "aws.rootVolume.throughputMiBps",
      aws.rootVolume.throughputMiBps,
      `gp3 allows at most 0.25 MiB/s per provisioned IOPS (${aws.rootVolume.iops} IOPS).`,
      `Raise aws.rootVolume.iops to at least ${aws.rootVolume.throughputMiBps * 4}.`,
    );
  }
  const rate = aws.rootVolume.initializationRateMiBps;
  if (rate > 0 && rate < 100) {
    refuse(
      "aws.rootVolume.initializationRateMiBps",
      rate,
      "EBS provisions a volume initialization rate of 100 to 300 MiB/s only.",
      "Set it between 100 and 300, or 0 to leave the root volume at EBS's default (unbilled) initialization.",
      ["0", "100-300"],
    );
  }
  return { ...aws, allowedCidrs, ssh };
}

/**
 * The mirror keys a model by its exact revision ("pin everything a rebuild depends on"), so a stack that reads
 * it must pin one: a moving name could serve a different model than the one verified into the mirror.
 */
function checkWeightsCache(aws: AwsSettings, common: CommonConfig): void {
  if (aws.weightsCache !== "s3" || common.modelRevision !== undefined) return;
  refuse(
    "aws.weightsCache",
    "s3",
    "the S3 weights mirror keys each model by its exact revision, and this stack pins none.",
    `Set ${CONFIG_NAMESPACE}:modelRevision to the model's 40-hex Hugging Face commit (vLLM, SGLang) or its 64-hex ` +
      "Ollama manifest digest (the digest /api/tags reports), or set aws.weightsCache: off.",
    [...WEIGHTS_CACHE_MODES],
  );
}

/** A private endpoint has no public IP: it needs a subnet whose route table reaches SSM, the registry and Hugging Face. */
function checkPrivate(aws: AwsSettings): void {
  if (aws.allowedCidrs !== undefined)
    refuse(
      "aws.allowedCidrs",
      aws.allowedCidrs,
      "a private endpoint has no public port.",
      "Drop allowedCidrs, or set private: false.",
    );
  if (aws.tls !== undefined)
    refuse(
      "aws.tls",
      aws.tls.domain,
      "a private endpoint cannot get a public certificate.",
      "Drop tls, or set private: false.",
    );
  if (aws.subnetId === undefined) {
    refuse(
      "aws.subnetId",
      "(missing)",
      "a private machine has no public IP, and the default VPC's subnets reach the internet only " +
        "through public IPs, so it could reach neither SSM nor the image registry nor Hugging Face.",
      "Set aws.subnetId to a private subnet with a route out: a NAT gateway, or VPC interface " +
        "endpoints for ssm, ssmmessages and ec2messages plus a way to reach the image registry and " +
        "huggingface.co (a NAT gateway or an HTTPS proxy).",
    );
  }
}

/**
 * Each CIDR must be a network address; a public range broader than a /8 needs allowPublicIngress.
 * Returns the list in canonical form ("myip" kept), or undefined when none was given.
 */
function checkCidrList(key: string, list: readonly string[], allowPublic: boolean): string[] {
  const out: string[] = [];
  for (const text of list) {
    if (text === MY_IP) {
      out.push(text);
      continue;
    }
    const cidr = parseCidr(text);
    if (cidr === null)
      return refuse(key, text, "is not an IPv4 CIDR.", "Write it as a.b.c.d/n, such as 203.0.113.0/24.");
    if (hasHostBits(cidr)) {
      const net = cidrText(networkOf(cidr));
      refuse(
        key,
        text,
        `has host bits set past the /${cidr.prefix}: the network is ${net}.`,
        `Write ${net}, or ${text.split("/")[0] ?? ""}/32 for that one address.`,
      );
    }
    if (isBroadPublic(cidr) && !allowPublic) {
      const what =
        cidr.prefix === 0
          ? "the whole internet"
          : `${2 ** (32 - cidr.prefix)} addresses, a public range broader than a /8`;
      refuse(
        key,
        text,
        `opens the port to ${what}.`,
        `Use narrower CIDRs (a /8 or smaller, or the private ${PRIVATE_RANGES.join(", ")}), or set aws.allowPublicIngress: true if you really mean it.`,
      );
    }
    out.push(cidrText(cidr));
  }
  return out;
}

/** User tags may not set the tags the watchdog and the reaper act on. */
function checkTags(tags: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(tags)) {
    if (key.toLowerCase().startsWith(RESERVED_TAG_PREFIX)) {
      refuse(
        "tags",
        key,
        `the ${RESERVED_TAG_PREFIX} prefix is reserved for the tags this program sets; the idle watchdog and the reaper act on them.`,
        `Rename the key without the ${RESERVED_TAG_PREFIX} prefix.`,
      );
    }
  }
}

/** Whether an address is loopback (127.0.0.0/8 or ::1): reachable only from the Docker host itself. */
export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1";
}

/** Docker bind rules that span keys: a loopback port is reached as the bind address, through the host. */
function checkDocker(d: DockerSettings): void {
  if (!isLoopback(d.bindAddress)) return;
  if (d.publicHost !== undefined) {
    refuse(
      "docker.publicHost",
      d.publicHost,
      `the proxy is published on ${d.bindAddress} (docker.bindAddress), so no other host reaches it by that name.`,
      'Drop publicHost, or set docker.bindAddress to the host address clients use ("0.0.0.0" for all).',
    );
  }
  const remote = d.host !== undefined && !d.host.startsWith("unix://");
  if (remote && d.waitForReady) {
    refuse(
      "docker.bindAddress",
      d.bindAddress,
      `the proxy is published on the remote host's loopback, which the readiness wait in \`pulumi up\` (run here) cannot reach.`,
      'Set docker.bindAddress to an address of the Docker host this machine can reach ("0.0.0.0" for ' +
        "all), or set docker.waitForReady: false and use the portForwardCommand output.",
    );
  }
}

/**
 * Spot with idleAction stop cannot be kept: the machine launches through an EC2 Fleet, whose spot
 * requests are one-time, and only a persistent request can stop ("The Spot Instance request type must be
 * persistent … For EC2 Fleet or Spot Fleet, the request type must be maintain",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html, read 2026-11-30).
 */
export function spotStopRefusal(key: string): UserError {
  return new UserError({
    key,
    value: "stop",
    problem:
      "a spot machine launched through an EC2 Fleet cannot be stopped (AWS: only persistent spot requests can stop; " +
      "a fleet's spot request is one-time); an idle stop or an interruption would terminate it and delete its disk.",
    hint: "Set idleAction: terminate (the disk and downloaded weights go with the machine), or spot: false to keep stop.",
  });
}

/** Validate raw config values (already JSON-decoded) into a stack config, or throw a UserError. */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
  const r = StackConfigSchema.safeParse(raw);
  if (!r.success) throw zodToUserError(r.error, raw, StackConfigSchema);
  const { aws, workstation, docker, target, fleet, ...common } = r.data;
  checkTags(common.tags);
  // Settings for a target the stack does not use would be silently ignored: refuse them.
  const settings = { aws, workstation, docker };
  if (fleet !== undefined && target !== "aws") {
    refuse(
      "fleet",
      "(set)",
      `a fleet is an Auto Scaling group of EC2 replicas behind a load balancer; the ${target} target serves from one machine you own.`,
      `Remove ${CONFIG_NAMESPACE}:fleet, or set target: aws.`,
      ["aws"],
    );
  }
  for (const t of TARGET_NAMES) {
    if (t !== target && settings[t] !== undefined) {
      refuse(
        t,
        "(set)",
        `the target is ${target}, so ${t} settings would be ignored.`,
        `Remove ${CONFIG_NAMESPACE}:${t}, or set target: ${t}.`,
        [...TARGET_NAMES],
      );
    }
  }
  switch (target) {
    case "aws": {
      if (fleet !== undefined) checkFleet(fleet, common, aws);
      if (common.spot && common.idleAction === "stop") throw spotStopRefusal("idleAction");
      const checked = checkAws(aws, fleet !== undefined);
      checkWeightsCache(checked, common);
      return { ...common, target, aws: checked, ...(fleet !== undefined ? { fleet } : {}) };
    }
    case "workstation": {
      const ws = checkMachineTarget(target, workstation, common);
      connectionHostKey(ws.hostKey, ws.host, ws.port);
      return { ...common, target, workstation: ws, sshPrivateKey: requireSshKey(common.sshPrivateKey) };
    }
    case "docker": {
      const d = checkMachineTarget(target, docker, common);
      checkDocker(d);
      return { ...common, target, docker: d };
    }
  }
}

/**
 * What a fleet cannot work with, checked before the AWS settings so the fleet's own reason is given. Replicas
 * sit behind a public load balancer: no private endpoint; the load balancer needs two zones of default subnets:
 * no single subnetId. Replicas are replaced, not kept: no idle stop (the group would replace a stopped replica),
 * no spotFallback (the group mixes markets itself) and no SSH (reach a replica through Session Manager). With
 * minReplicas 0, idleMinutes is what takes the fleet to zero.
 */
function checkFleet(fleet: FleetConfig, common: CommonConfig, aws: AwsSettings | undefined): void {
  if (fleet.minReplicas > fleet.maxReplicas)
    refuse(
      "fleet.minReplicas",
      fleet.minReplicas,
      `is above fleet.maxReplicas (${fleet.maxReplicas}).`,
      `Set fleet.minReplicas to at most ${fleet.maxReplicas}, or raise fleet.maxReplicas.`,
    );
  if (fleet.minReplicas === 0 && common.idleMinutes === "off")
    refuse(
      "idleMinutes",
      "off",
      "with fleet.minReplicas 0 the fleet goes to zero after idleMinutes without a request; off would keep it up forever.",
      "Set idleMinutes (e.g. 30), or fleet.minReplicas: 1 or more to keep replicas up.",
    );
  if (common.idleAction === "stop")
    refuse(
      "idleAction",
      "stop",
      "a fleet's replicas are never stopped: the group terminates them on scale-in, and would replace a stopped one.",
      "Set idleAction: terminate (replicas download their weights again when the fleet scales out).",
      ["terminate"],
    );
  if (aws === undefined) return;
  if (aws.private)
    refuse(
      "aws.private",
      true,
      "a fleet is reached through a public load balancer.",
      "Drop private (list aws.allowedCidrs), or remove fleet.",
    );
  if (aws.allowedCidrs === undefined)
    refuse(
      "aws.allowedCidrs",
      "(missing)",
      "required with a fleet: who may reach the load balancer.",
      `List CIDRs such as ["${MY_IP}"] or ["203.0.113.0/24"].`,
    );
  if (aws.subnetId !== undefined)
    refuse(
      "aws.subnetId",
      aws.subnetId,
      "a fleet's load balancer needs subnets in at least two zones; it uses the default VPC's default subnets.",
      "Drop subnetId, or remove fleet.",
    );
  if (aws.ssh !== undefined)
    refuse(
      "aws.ssh",
      aws.ssh.keyName,
      "a fleet's replicas accept traffic only from the load balancer.",
      "Drop ssh and reach a replica with `aws ssm start-session` (the connectCommand output).",
    );
  if (aws.spotFallback !== "none")
    refuse(
      "aws.spotFallback",
      aws.spotFallback,
      "a fleet mixes markets itself: with spot, an on-demand base of one replica (minReplicas 1 or more) and spot above it.",
      "Drop spotFallback.",
      ["none"],
    );
  checkFleetTls(aws.tls);
}

/** On a fleet, HTTPS is an ACM certificate validated in a Route 53 zone: the Let's Encrypt fields do not apply. */
function checkFleetTls(tls: AwsSettings["tls"]): void {
  if (tls === undefined) return;
  if (tls.hostedZoneId === undefined)
    refuse(
      "aws.tls.hostedZoneId",
      "(missing)",
      "a fleet's certificate is an ACM certificate on the load balancer, validated by DNS records in a Route 53 hosted zone.",
      `Set aws.tls.hostedZoneId to the id of the public hosted zone that holds ${tls.domain}, or drop tls.`,
    );
  if (tls.email !== undefined)
    refuse(
      "aws.tls.email",
      tls.email,
      "a fleet's certificate comes from ACM, not Let's Encrypt, so the email would be ignored.",
      "Drop aws.tls.email.",
    );
  if (tls.openPort80ForAcme)
    refuse(
      "aws.tls.openPort80ForAcme",
      true,
      "a fleet needs no ACME check: its load balancer's port 80 only redirects to 443, for aws.allowedCidrs alone.",
      "Drop aws.tls.openPort80ForAcme.",
    );
}

/** A machine target (one the user owns) needs its settings, and takes no cloud-only choices. */
function checkMachineTarget<S>(target: Exclude<TargetName, "aws">, settings: S | undefined, common: CommonConfig): S {
  if (settings === undefined) {
    return refuse(
      target,
      "(missing)",
      `the ${target} target needs its settings.`,
      `Set ${CONFIG_NAMESPACE}:${target} with at least ${target === "workstation" ? "host and gpus" : "gpus"}.`,
    );
  }
  if (common.spot)
    refuse(
      "spot",
      true,
      `spot capacity is an AWS notion; the ${target} target runs on a machine you own.`,
      "Drop spot.",
    );
  for (const key of ["families", "instanceTypes", "maxPricePerHour", "objective", "minTokensPerSecond"] as const) {
    if (common[key] !== undefined)
      refuse(
        key,
        common[key],
        `chooses among cloud instances; the ${target} target's machine is given.`,
        `Drop ${key}.`,
      );
  }
  if (common.maxMonthlyCost !== undefined)
    refuse(
      "maxMonthlyCost",
      common.maxMonthlyCost,
      `limits what AWS instances cost at catalog prices; the ${target} target runs on a machine you own, which has no price here.`,
      "Drop maxMonthlyCost.",
    );
  return settings;
}

/** The workstation target connects over SSH, so its private key must be set. */
function requireSshKey(key: string | undefined): string {
  if (key !== undefined) return key;
  return refuse(
    "sshPrivateKey",
    "(missing)",
    "the workstation target connects over SSH with a private key.",
    `Set it with \`pulumi config set --secret ${CONFIG_NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519\`.`,
  );
}

/** Which sizing inputs the stack set itself (a given machine may step the others down to fit). */
export function explicitChoices(config: CommonConfig): { quantization: boolean; context: boolean } {
  return { quantization: config.quantization !== undefined, context: config.context !== undefined };
}

/** The sizing request the keys every target shares imply (the AWS target narrows it to a pinned type). */
export function planRequestFrom(config: CommonConfig): PlanRequest {
  return {
    model: config.model,
    engine: config.engine,
    context: config.context ?? DEFAULT_CONTEXT,
    concurrency: config.concurrency,
    spot: config.spot,
    ...(config.quantization !== undefined ? { quantization: config.quantization } : {}),
    ...(config.modelRevision !== undefined ? { modelRevision: config.modelRevision } : {}),
    ...(config.families !== undefined ? { families: config.families } : {}),
    ...(config.instanceTypes !== undefined ? { instanceTypes: config.instanceTypes } : {}),
    ...(config.maxPricePerHour !== undefined ? { maxPricePerHour: config.maxPricePerHour } : {}),
    ...(config.maxMonthlyCost !== undefined ? { maxMonthlyCost: config.maxMonthlyCost } : {}),
    ...(config.objective !== undefined ? { objective: config.objective } : {}),
    ...(config.minTokensPerSecond !== undefined ? { minTokensPerSecond: config.minTokensPerSecond } : {}),
  };
}

/** Decode Pulumi's string config values: YAML numbers, booleans, lists and maps arrive as JSON text. */
export function decodeConfigValues(values: Readonly<Record<string, string>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [fullKey, text] of Object.entries(values)) {
    if (!fullKey.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
    const key = fullKey.slice(CONFIG_NAMESPACE.length + 1);
    let value: unknown = text;
    if (/^\s*([[{]|-?\d|true$|false$|null$)/.test(text)) {
      try {
        value = JSON.parse(text);
      } catch {
        value = text;
      }
    }
    out[key] = value;
  }
  return out;
}
