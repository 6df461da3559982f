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

const invokes: Record<
  string,
  (inputs: Record<string, unknown>, provider: string | undefined) => Record<string, unknown>
> = {
  "aws:ec2/getVpc:getVpc": () => ({ id: "vpc-0default", cidrBlock: "172.31.0.0/16" }),
  "aws:ec2/getSubnets:getSubnets": () => ({
    id: "subnets",
    ids: ["subnet-0bbbbbbbbbbbbbbbb", "subnet-0aaaaaaaaaaaaaaaa"],
  }),
  "aws:ec2/getSubnet:getSubnet": (i) => ({ id: i.id, vpcId: "vpc-0given", availabilityZone: "us-east-1a" }),
  "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": () => ({
    id: "offerings",
    locations: ["us-east-1a", "us-east-1b"],
    locationTypes: [],
    instanceTypes: [],
  }),
  "aws:ssm/getParameter:getParameter": (i) => ({
    id: i.name,
    name: i.name,
    value: "ami-0mockdlami000000",
    insecureValue: "ami-0mockdlami000000",
    type: "String",
  }),
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
      return inputs;
  }
}

/** IAM roles: the Pulumi id of a role is its name, as in the real provider. */
const roleName = (name: string): string => `${name}-7f3a`;

function idOf(type: string, name: string, inputs: Record<string, unknown>): string {
  if (type.startsWith("aws:ec2/instance:")) return `i-0${name}`;
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
  { readonly deleteBeforeReplace: boolean; readonly ignoreChanges: readonly string[] }
>();

/** The registration request fields we read (the generated protobuf class, untyped in the SDK's declarations). */
interface RegisterRequest {
  getName(): string;
  getCustom(): boolean;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
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
        if (args.type === "pulumi:providers:aws") providerRegions.set(id, String(inputs.region));
        return { id, state: state(args.type, args.name, inputs, args.provider) };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        const handler = invokes[args.token];
        if (handler === undefined) throw new Error(`mock: unhandled invoke ${args.token}`);
        recordedCalls.push({
          token: args.token,
          ...(args.provider !== undefined && args.provider !== "" ? { provider: args.provider } : {}),
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
