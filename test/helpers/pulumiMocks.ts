/**
 * Pulumi mocks for component tests: records every resource the program registers with its exact
 * inputs and provider, answers the invokes our components make with fixed fakes (region-aware, as
 * the real provider is: an explicit AWS provider's region shows in getRegion and in ARNs), and
 * throws on any other call, so a new lookup fails loudly instead of returning garbage.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";

/** A registered resource as the mock monitor saw it. */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  /** The provider reference ("urn::id") the resource was registered with, if any. */
  readonly provider?: string;
}

/** An invoke as the mock monitor saw it. */
export interface RecordedCall {
  readonly token: string;
  /** The provider reference ("urn::id") of the call, if any. */
  readonly provider?: string;
  /** The call's own `region` argument (@pulumi/aws 7 data sources), if given. */
  readonly region?: string;
  /** The quota code asked for, for Service Quotas calls. */
  readonly quotaCode?: string;
  /** Whether an instance lookup filtered by tags (the component's generation lookup). */
  readonly byTags?: boolean;
  /** The instance asked for, for getInstance. */
  readonly instanceId?: string;
}

/** Everything registered since the last reset. */
export const recorded: Recorded[] = [];
/** Every invoke since the last reset. */
export const recordedCalls: RecordedCall[] = [];

/** The region of the default AWS provider in the example stacks (aws:region). */
export const DEFAULT_REGION = "us-east-1";
/** Explicit AWS providers registered so far: provider id to region. */
const providerRegions = new Map<string, string>();

/** The region an AWS call or resource with this provider reference acts in. */
export function regionOfProvider(ref: string | undefined): string {
  const id = ref?.split("::").pop();
  return (id !== undefined ? providerRegions.get(id) : undefined) ?? DEFAULT_REGION;
}

/** The fake API key the RandomPassword mock returns; tests search outputs and user data for it. */
export const MOCK_API_KEY = "MOCKKEY0123456789abcdefghijklmnopqrstuvwxyzABCD";
/** The local image id every mocked RemoteImage reports. */
export const MOCK_IMAGE_ID = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
/** The registry digest every mocked RemoteImage reports. */
export const MOCK_REPO_DIGEST = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
/** The fake public IP of every mocked instance (the auto-assigned one, released on stop). */
export const MOCK_PUBLIC_IP = "203.0.113.10";
/** The fake address of every mocked Elastic IP. */
export const MOCK_ELASTIC_IP = "203.0.113.99";

/** A running or pending instance the account already has, as the EC2 invokes report it. */
export interface MockInstance {
  readonly id: string;
  readonly type: string;
  readonly spot?: boolean;
  readonly tags?: Readonly<Record<string, string>>;
}

/** The AccessDeniedException text the provider surfaces when a role may not read Service Quotas. */
export const QUOTA_DENIED_MESSAGE =
  "reading Service Quotas Service Quota (L-DB2E81BA): operation error Service Quotas: GetServiceQuota, " +
  "https response error StatusCode: 400, api error AccessDeniedException: User: arn:aws:iam::123456789012:user/ci " +
  "is not authorized to perform: servicequotas:GetServiceQuota";

/**
 * What the account holds, for the quota preflight's invokes; reset to the default (every quota at 64
 * vCPUs, no instances running) by useMocks. A test sets `applied[code]` (or "denied") and `instances`.
 */
export const account: {
  applied: Record<string, number | "denied">;
  instances: MockInstance[];
} = { applied: {}, instances: [] };
const DEFAULT_QUOTA_VCPUS = 64;
/** vCPUs of types outside the catalog that tests run as "other" instances (EC2's DescribeInstanceTypes figures). */
const OTHER_TYPE_VCPUS: Readonly<Record<string, number>> = { "g3.4xlarge": 16, "vt1.3xlarge": 12, "p3.2xlarge": 8 };

/** The zones (letters) of us-east-1 the dev stack's candidates are offered in; e has no default subnet. */
export const DEV_OFFERED: Readonly<Record<string, string[]>> = {
  "g4dn.xlarge": ["a", "b", "c", "d", "e", "f"],
  "g4dn.2xlarge": ["a", "b", "c", "d", "f"],
  "g6.xlarge": ["b", "c"],
};
/** Zones (letters) offering a type when `capacity.offered` does not name it. */
const DEFAULT_OFFERED_ZONES = ["a", "b", "c"];
/** Zones whose default subnet is missing (EC2 adds none for a zone created after the account). */
const NO_DEFAULT_SUBNET = ["e"];
/** Subnet id to zone, filled by the subnet invokes, read by the Fleet mock. */
const subnetZones = new Map<string, string>();
/** Launch template id to its inputs, read by the Fleet mock. */
const launchTemplates = new Map<string, Record<string, unknown>>();
/** Instances the Fleet mock launched, as getInstance reports them. */
const launchedInstances = new Map<string, Record<string, unknown>>();

/**
 * EC2's capacity, for the Fleet mock; reset by useMocks. `offered`: type to zone letters (default a, b, c).
 * `noCapacity`: what has none, each entry a market ("spot"), a type, or "type@zone".
 */
export const capacity: { offered: Record<string, string[]>; noCapacity: Set<string> } = {
  offered: { ...DEV_OFFERED },
  noCapacity: new Set(),
};

interface MockOverride {
  readonly instanceType: string;
  readonly subnetId: string;
  readonly priority: number;
  readonly lt: string;
}

/**
 * An instant fleet as this test models it: the override with the lowest priority number whose type and zone
 * have capacity, one instance, or none at all. It tests our wiring; it proves nothing about EC2.
 */
function fleetState(name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const market = String(
    (inputs.targetCapacitySpecification as { defaultTargetCapacityType: string }).defaultTargetCapacityType,
  );
  const configs = inputs.launchTemplateConfigs as {
    launchTemplateSpecification: { launchTemplateId: string };
    overrides: Omit<MockOverride, "lt">[];
  }[];
  const options: MockOverride[] = configs
    .flatMap((c) => c.overrides.map((o) => ({ ...o, lt: c.launchTemplateSpecification.launchTemplateId })))
    .sort((a, b) => a.priority - b.priority);
  const out = (o: MockOverride): boolean => {
    const zone = subnetZones.get(o.subnetId) ?? "";
    return [market, o.instanceType, `${o.instanceType}@${zone}`].some((k) => capacity.noCapacity.has(k));
  };
  const pick = options.find((o) => !out(o));
  if (pick === undefined) return { ...inputs, fleetState: "active", fleetInstanceSets: [] };
  const id = `i-0${name}`;
  const template = launchTemplates.get(pick.lt) ?? {};
  const tagSpecs = (template.tagSpecifications ?? []) as { resourceType: string; tags: Record<string, string> }[];
  launchedInstances.set(id, {
    id,
    instanceId: id,
    instanceType: pick.instanceType,
    availabilityZone: subnetZones.get(pick.subnetId),
    subnetId: pick.subnetId,
    ami: template.imageId,
    rootBlockDevices: [{ volumeId: `vol-0${name}` }],
    tags: tagSpecs.find((t) => t.resourceType === "instance")?.tags ?? {},
  });
  return {
    ...inputs,
    fleetState: "active",
    fleetInstanceSets: [{ instanceIds: [id], instanceType: pick.instanceType, lifecycle: market, platform: "" }],
  };
}

/**
 * A failed read as the engine hands it over: a gRPC error whose `details` carry the provider's text
 * (the SDK rejects the invoke with `new Error(err.details)`, @pulumi/pulumi runtime/invoke.js).
 */
function providerError(token: string, code: string): Error {
  const details = `invocation of ${token} returned an error: ${QUOTA_DENIED_MESSAGE.replace("L-DB2E81BA", code)}`;
  return Object.assign(new Error(details), { code: 2, details });
}

/** EC2's filter wildcard: `*` matches any run of characters. */
const globMatch = (pattern: string, value: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(value);

/** Filter values by name from a getInstances call. */
const filterValues = (inputs: Record<string, unknown>, name: string): string[] | undefined =>
  (inputs.filters as { name: string; values: string[] }[] | undefined)?.find((f) => f.name === name)?.values;

const invokes: Record<
  string,
  (inputs: Record<string, unknown>, provider: string | undefined) => Record<string, unknown>
> = {
  "aws:ec2/getVpc:getVpc": () => ({ id: "vpc-0default", cidrBlock: "172.31.0.0/16" }),
  "aws:ec2/getSubnets:getSubnets": (i) => {
    const zone = filterValues(i, "availability-zone")?.[0] ?? "";
    const letter = zone.slice(-1);
    const ids = NO_DEFAULT_SUBNET.includes(letter) ? [] : [`subnet-0${letter.repeat(16)}`];
    for (const id of ids) subnetZones.set(id, zone);
    return { id: "subnets", ids };
  },
  "aws:ec2/getSubnet:getSubnet": (i) => {
    subnetZones.set(String(i.id), "us-east-1a");
    return { id: i.id, vpcId: "vpc-0given", availabilityZone: "us-east-1a" };
  },
  "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (i, provider) => {
    const region = regionOfProvider(provider);
    const pairs = (filterValues(i, "instance-type") ?? []).flatMap((t) =>
      (capacity.offered[t] ?? DEFAULT_OFFERED_ZONES).map((z) => [t, `${region}${z}`] as const),
    );
    return {
      id: "offerings",
      instanceTypes: pairs.map(([t]) => t),
      locations: pairs.map(([, z]) => z),
      locationTypes: pairs.map(() => "availability-zone"),
    };
  },
  "aws:ec2/getAmi:getAmi": (i) => ({ id: filterValues(i, "image-id")?.[0], rootDeviceName: "/dev/sda1" }),
  "aws:ssm/getParameter:getParameter": (i) => ({
    id: i.name,
    name: i.name,
    value: "ami-0mockdlami000000",
    insecureValue: "ami-0mockdlami000000",
    type: "String",
  }),
  "aws:servicequotas/getServiceQuota:getServiceQuota": (i, provider) => {
    const code = String(i.quotaCode);
    const applied = account.applied[code] ?? DEFAULT_QUOTA_VCPUS;
    if (applied === "denied") throw providerError("aws:servicequotas/getServiceQuota:getServiceQuota", code);
    const region = typeof i.region === "string" ? i.region : regionOfProvider(provider);
    return { id: `ec2/${code}`, quotaCode: code, serviceCode: "ec2", value: applied, region, adjustable: true };
  },
  "aws:ec2/getInstances:getInstances": (i) => {
    const types = filterValues(i, "instance-type") ?? ["*"];
    const spotOnly = filterValues(i, "instance-lifecycle")?.includes("spot") === true;
    const wanted = Object.entries((i.instanceTags ?? {}) as Record<string, string>);
    const ids = account.instances
      .filter((x) => types.some((t) => globMatch(t, x.type)) && (!spotOnly || x.spot === true))
      .filter((x) => wanted.every(([k, v]) => x.tags?.[k] === v))
      .map((x) => x.id);
    return { id: "instances", ids, privateIps: [], publicIps: [], ipv6Addresses: [], instanceTags: {} };
  },
  "aws:ec2/getInstance:getInstance": (i) => {
    const launched = launchedInstances.get(String(i.instanceId));
    if (launched !== undefined) return launched;
    const found = account.instances.find((x) => x.id === i.instanceId);
    if (found === undefined) throw new Error(`mock: no instance ${String(i.instanceId)}`);
    return { id: found.id, instanceId: found.id, instanceType: found.type, tags: found.tags ?? {} };
  },
  "aws:ec2/getInstanceType:getInstanceType": (i) => {
    const vcpus = OTHER_TYPE_VCPUS[String(i.instanceType)];
    if (vcpus === undefined) throw new Error(`mock: unknown instance type ${String(i.instanceType)}`);
    return { id: String(i.instanceType), instanceType: i.instanceType, defaultVcpus: vcpus };
  },
  "aws:index/getRegion:getRegion": (_i, provider) => {
    const region = regionOfProvider(provider);
    return { id: region, name: region, region };
  },
};

function state(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  provider: string | undefined,
): Record<string, unknown> {
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      return { ...inputs, result: MOCK_API_KEY };
    case "aws:ssm/parameter:Parameter":
      return {
        ...inputs,
        arn: `arn:aws:ssm:${regionOfProvider(provider)}:123456789012:parameter${String(inputs.name)}`,
      };
    case "aws:iam/role:Role":
      return { ...inputs, name: roleName(name), arn: `arn:aws:iam::123456789012:role/${roleName(name)}` };
    case "aws:iam/instanceProfile:InstanceProfile":
      return { ...inputs, name: `${name}-1c2d` };
    case "aws:ec2/instance:Instance":
      // EC2 fills spotInstanceRequestId only for spot instances.
      return {
        ...inputs,
        publicIp: MOCK_PUBLIC_IP,
        arn: `arn:aws:ec2:${regionOfProvider(provider)}:123456789012:instance/i-0${name}`,
        spotInstanceRequestId: inputs.instanceMarketOptions === undefined ? "" : `sir-0${name}`,
      };
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return {
        ...inputs,
        latestVersion: 1,
        arn: `arn:aws:ec2:${regionOfProvider(provider)}:123456789012:launch-template/lt-0${name}`,
      };
    case "aws:ec2/fleet:Fleet":
      return fleetState(name, inputs);
    case "aws:ec2/eip:Eip":
      return { ...inputs, publicIp: MOCK_ELASTIC_IP, allocationId: `eipalloc-0${name}` };
    case "docker:index/remoteImage:RemoteImage":
      // What the provider reports after a pull: the local image id and the registry digest.
      return {
        ...inputs,
        imageId: MOCK_IMAGE_ID,
        repoDigest: `${String(inputs.name).split(":")[0]}@${MOCK_REPO_DIGEST}`,
      };
    case "command:local:Command":
      return { ...inputs, stdout: "ready", stderr: "" };
    default:
      return fleetStates[type]?.(name, inputs, regionOfProvider(provider)) ?? inputs;
  }
}

/** IAM roles: the Pulumi id of a role is its name, as in the real provider. */
const roleName = (name: string): string => `${name}-7f3a`;

function idOf(type: string, name: string, inputs: Record<string, unknown>): string {
  if (type.startsWith("aws:ec2/instance:")) return `i-0${name}`;
  if (type === "aws:ec2/launchTemplate:LaunchTemplate") return `lt-0${name}`;
  if (type === "aws:ec2/fleet:Fleet") return `fleet-0${name}`;
  if (type === "aws:iam/role:Role") return roleName(name);
  if (type === "pulumi:providers:aws") return `aws-provider-${String(inputs.region)}`;
  return `${name}-id`;
}

let installed = false;

/**
 * Resource options as the SDK sent them to the monitor, by resource name (mocks' newResource never
 * sees options). Custom resources only: a component may share its name with one of its children.
 */
export const registeredOptions = new Map<
  string,
  {
    readonly deleteBeforeReplace: boolean;
    readonly ignoreChanges: readonly string[];
    readonly replaceOnChanges: readonly string[];
    readonly replacementTrigger: unknown;
    /** Names of the resources it depends on, explicitly (dependsOn) or through its inputs' Outputs. */
    readonly dependsOn: readonly string[];
  }
>();

/** The registration request fields we read (the generated protobuf class, untyped in the SDK's declarations). */
interface RegisterRequest {
  getName(): string;
  getCustom(): boolean;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
  getReplaceonchangesList(): string[];
  getReplacementTrigger(): { toJavaScript(): unknown } | undefined;
  getDependenciesList(): string[];
}

/** Wrap the mock monitor's registration to keep the options it otherwise drops. */
function recordOptions(): void {
  const register = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (
    this: MockMonitor,
    req: RegisterRequest,
    callback: (err: unknown, response: unknown) => void,
  ) {
    if (req.getCustom()) {
      registeredOptions.set(req.getName(), {
        deleteBeforeReplace: req.getDeletebeforereplace(),
        ignoreChanges: req.getIgnorechangesList(),
        replaceOnChanges: req.getReplaceonchangesList(),
        replacementTrigger: req.getReplacementTrigger()?.toJavaScript(),
        // A URN ends in "::<name>".
        dependsOn: req.getDependenciesList().map((urn) => urn.split("::").pop() ?? urn),
      });
    }
    return register.call(this, req, callback);
  };
}

/**
 * Install the mocks once per process and clear the record. Installing again would swap the mock
 * monitor under resources still resolving, so later tests only clear the record.
 */
export async function useMocks(): Promise<void> {
  recorded.length = 0;
  recordedCalls.length = 0;
  account.applied = {};
  account.instances = [];
  capacity.offered = { ...DEV_OFFERED };
  capacity.noCapacity = new Set();
  launchedInstances.clear();
  registeredOptions.clear();
  if (installed) return;
  installed = true;
  recordOptions();
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        const inputs = args.inputs as Record<string, unknown>;
        recorded.push({
          type: args.type,
          name: args.name,
          inputs,
          ...(args.provider !== undefined && args.provider !== "" ? { provider: args.provider } : {}),
        });
        const id = idOf(args.type, args.name, inputs);
        if (args.type === "aws:ec2/launchTemplate:LaunchTemplate") launchTemplates.set(id, inputs);
        if (args.type === "pulumi:providers:aws") providerRegions.set(id, String(inputs.region));
        return { id, state: state(args.type, args.name, inputs, args.provider) };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        const handler = invokes[args.token];
        if (handler === undefined) throw new Error(`mock: unhandled invoke ${args.token}`);
        const inputs = args.inputs as Record<string, unknown>;
        recordedCalls.push({
          token: args.token,
          ...(args.provider !== undefined && args.provider !== "" ? { provider: args.provider } : {}),
          ...(typeof inputs.region === "string" ? { region: inputs.region } : {}),
          ...(typeof inputs.quotaCode === "string" ? { quotaCode: inputs.quotaCode } : {}),
          ...(inputs.instanceTags !== undefined ? { byTags: true } : {}),
          ...(typeof inputs.instanceId === "string" ? { instanceId: inputs.instanceId } : {}),
        });
        return handler(args.inputs as Record<string, unknown>, args.provider);
      },
    },
    "qwen3-serve",
    "test",
    false,
  );
}

/** The value of an Output, once resolved. */
export function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** Resources of one type, in registration order. */
export function ofType(type: string): Recorded[] {
  return recorded.filter((r) => r.type === type);
}

/** Let pending registrations land before asserting on the record. */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 50));
}

/** Resolve every Output in an object (so nothing is still pending when the next test starts). */
export async function resolveAll(outputs: object): Promise<void> {
  await Promise.all(
    Object.values(outputs)
      .filter((v): v is pulumi.Output<unknown> => pulumi.Output.isInstance(v))
      .map((o) => outputValue(o)),
  );
  await settle();
}

/** How an Output ended: its value, its rejection, or neither once the program has gone quiet. */
export type Outcome = { readonly value: unknown } | { readonly error: unknown } | "pending";

/**
 * How an Output ends, read once the program is quiet (see {@link collectEscapes}). Its rejection is handled
 * (pulumi.recover) from this call on, so call it as soon as the program returns. "pending" is an Output built on a
 * resource whose registration failed: the SDK never resolves those (runtime/resource.js registerResource, @pulumi/pulumi
 * 3.248.0).
 */
export function watchOutcome(o: pulumi.Output<unknown>): () => Outcome {
  let done: Outcome | undefined;
  pulumi
    .recover(o, (error: unknown) => {
      done ??= { error };
      return undefined;
    })
    .apply((value) => {
      done ??= { value };
    });
  return () => done ?? "pending";
}

/** What a Pulumi program let escape while `body` ran: the unhandled rejections, and what it logged as errors. */
export interface Escaped<T> {
  readonly result: T;
  readonly rejections: readonly unknown[];
  readonly errorLogs: readonly string[];
}

/**
 * Run `body` with the process's unhandledRejection listeners (node:test's among them) and console.error swapped for
 * collectors, until the rejections stop; then restore both. The SDK makes every failed registration an unhandled
 * rejection on purpose (runtime/resource.js runAsyncResourceOp: `resourceOp.catch((err) => Promise.reject(err))`),
 * which the CLI reports once per error object (cmd/run/run.js uncaughtHandler); under mocks its log.error goes to
 * console.error.
 */
export async function collectEscapes<T>(body: () => Promise<T>): Promise<Escaped<T>> {
  const listeners = process.listeners("unhandledRejection");
  const consoleError = console.error;
  const rejections: unknown[] = [];
  const errorLogs: string[] = [];
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", (reason) => rejections.push(reason));
  console.error = (...args: unknown[]) => errorLogs.push(args.map(String).join(" "));
  try {
    const result = await body();
    // Until no new rejection arrives for two 50 ms rounds (a dozen at most): every failed registration has landed.
    for (let round = 0, still = 0; round < 12 && still < 2; round++) {
      const before = rejections.length;
      await settle();
      still = rejections.length === before ? still + 1 : 0;
    }
    return { result, rejections, errorLogs };
  } finally {
    process.removeAllListeners("unhandledRejection");
    for (const l of listeners) process.on("unhandledRejection", l);
    console.error = consoleError;
  }
}

/** Pulumi's marker for a secret value in resolved inputs (sdk/nodejs/runtime/rpc.ts specialSigKey / specialSecretSig). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** The value inside a secret-marked input; throws if the input was not marked secret. */
export function secretValue(v: unknown): unknown {
  const o = v as Record<string, unknown> | null;
  if (o === null || typeof o !== "object" || o[SIG_KEY] !== SECRET_SIG)
    throw new Error(`expected a secret-marked value, got ${JSON.stringify(v)}`);
  return o.value;
}

/** The fake account every mocked ARN carries. */
const MOCK_ACCOUNT = "123456789012";

/**
 * What the provider reports for the fleet's resources (load balancer, target group, listeners, Auto Scaling
 * group, ACM certificate, Route 53 records): the inputs plus the computed ARNs and names, shaped as AWS
 * returns them (an ALB's DNS name `<name>-<id>.<region>.elb.amazonaws.com`, a group's ARN with its UUID).
 */
const fleetStates: Record<
  string,
  (name: string, inputs: Record<string, unknown>, region: string) => Record<string, unknown>
> = {
  "aws:lb/loadBalancer:LoadBalancer": (name, inputs, region) => ({
    ...inputs,
    arn: `arn:aws:elasticloadbalancing:${region}:${MOCK_ACCOUNT}:loadbalancer/app/${name}/50dc6c495c0c9188`,
    arnSuffix: `app/${name}/50dc6c495c0c9188`,
    dnsName: `${name}-1234567890.${region}.elb.amazonaws.com`,
    zoneId: "Z35SXDOTRQ7X7K",
  }),
  "aws:lb/targetGroup:TargetGroup": (name, inputs, region) => ({
    ...inputs,
    arn: `arn:aws:elasticloadbalancing:${region}:${MOCK_ACCOUNT}:targetgroup/${name}/73e2d6bc24d8a067`,
    arnSuffix: `targetgroup/${name}/73e2d6bc24d8a067`,
  }),
  "aws:lb/listener:Listener": (name, inputs, region) => ({
    ...inputs,
    arn: `arn:aws:elasticloadbalancing:${region}:${MOCK_ACCOUNT}:listener/app/${name}/50dc6c495c0c9188/f2f7dc8efc522ab2`,
  }),
  "aws:lb/listenerRule:ListenerRule": (name, inputs, region) => ({
    ...inputs,
    arn: `arn:aws:elasticloadbalancing:${region}:${MOCK_ACCOUNT}:listener-rule/app/${name}/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee`,
  }),
  "aws:autoscaling/group:Group": (_name, inputs, region) => ({
    ...inputs,
    arn: `arn:aws:autoscaling:${region}:${MOCK_ACCOUNT}:autoScalingGroup:6d2ab1c5-1c3e-4a8a-9f3e-0123456789ab:autoScalingGroupName/${String(inputs.name)}`,
  }),
  "aws:acm/certificate:Certificate": (name, inputs, region) => ({
    ...inputs,
    arn: `arn:aws:acm:${region}:${MOCK_ACCOUNT}:certificate/${name}`,
    domainValidationOptions: [
      {
        domainName: inputs.domainName,
        resourceRecordName: `_a79865eb4cd1a6ab990a45779b4e0b96.${String(inputs.domainName)}.`,
        resourceRecordType: "CNAME",
        resourceRecordValue: "_424c7224e9b0146f9a8808af955727d0.acm-validations.aws.",
      },
    ],
  }),
  "aws:acm/certificateValidation:CertificateValidation": (_name, inputs) => ({ ...inputs }),
  "aws:route53/record:Record": (_name, inputs) => ({ ...inputs, fqdn: String(inputs.name).replace(/\.$/, "") }),
};

/**
 * The fleet waker's resources (components/targets/fleetWaker.ts) as the provider reports them: a function's ARN
 * from its name, a log group's ARN without the `:*` suffix (the provider strips it), a topic's ARN from its
 * auto-name (the resource name and a fixed suffix here); and a scaling policy's ARN, which the alarms name.
 */
Object.assign(fleetStates, {
  "aws:lambda/function:Function": (_name: string, inputs: Record<string, unknown>, region: string) => ({
    ...inputs,
    arn: `arn:aws:lambda:${region}:${MOCK_ACCOUNT}:function:${String(inputs.name)}`,
  }),
  "aws:cloudwatch/logGroup:LogGroup": (_name: string, inputs: Record<string, unknown>, region: string) => ({
    ...inputs,
    arn: `arn:aws:logs:${region}:${MOCK_ACCOUNT}:log-group:${String(inputs.name)}`,
  }),
  "aws:sns/topic:Topic": (name: string, inputs: Record<string, unknown>, region: string) => ({
    ...inputs,
    arn: `arn:aws:sns:${region}:${MOCK_ACCOUNT}:${name}-4f1c2e7`,
  }),
  // PutScalingPolicy's PolicyARN form, with a fixed id: the alarms name their policies by it.
  "aws:autoscaling/policy:Policy": (name: string, inputs: Record<string, unknown>, region: string) => ({
    ...inputs,
    arn:
      `arn:aws:autoscaling:${region}:${MOCK_ACCOUNT}:scalingPolicy:0f1e2d3c-4b5a-4c6d-8e7f-0a1b2c3d4e5f:` +
      `autoScalingGroupName/${String(inputs.autoscalingGroupName)}:policyName/${name}`,
  }),
});

/** The fake random suffix of every mocked RandomId (6 bytes as 12 hex digits), so the weights bucket's name is fixed. */
export const MOCK_RANDOM_HEX = "5f3a9c0e1d2b";

/**
 * The weights mirror's resources (components/mirror/bucket.ts): a RandomId's hex, and a bucket's ARN from its name
 * (S3 ARNs carry neither region nor account: arn:aws:s3:::<bucket>).
 */
Object.assign(fleetStates, {
  "random:index/randomId:RandomId": (_name: string, inputs: Record<string, unknown>) => ({
    ...inputs,
    hex: MOCK_RANDOM_HEX,
  }),
  "aws:s3/bucket:Bucket": (_name: string, inputs: Record<string, unknown>) => ({
    ...inputs,
    arn: `arn:aws:s3:::${String(inputs.bucket)}`,
  }),
});
