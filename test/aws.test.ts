/**
 * The AWS target under Pulumi mocks, for every example stack: the resources and their exact inputs
 * (instance type from the plan, IMDSv2, encrypted gp3 root, ingress only from the allowed CIDRs,
 * scoped IAM, tags), no secret in user data, outputs present with the key marked secret. Then the
 * config mistakes, each failing before any resource is declared.
 *
 * What this proves: the inputs we send to AWS. It does not prove AWS accepts them.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { nodeScriptCommand } from "../components/machine/nodeScript";
import { shippedScript } from "../components/machine/render";
import { parsePlanRequest } from "../components/sizing/request";
import { buildPlan } from "../components/sizing/plan";
import { GpuServer, launchedOf } from "../components/targets/aws";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { UserError } from "../components/errors/userError";
import { deployStack, planForStack, type StackContext, type StackOutputs } from "../components/program/deploy";
import { isFleetStack, stackFileConfig, stackNames, stacksFor, stackTarget } from "./helpers/stacks";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { evaluate, policiesOfRole } from "./helpers/iam";
import {
  account,
  capacity,
  collectEscapes,
  DEV_OFFERED,
  MOCK_API_KEY,
  MOCK_ELASTIC_IP,
  MOCK_PUBLIC_IP,
  ofType,
  recorded,
  recordedCalls,
  registeredOptions,
  resolveAll,
  secretValue,
  settle,
  useMocks,
  outputValue,
  watchOutcome,
} from "./helpers/pulumiMocks";

const MY_IP = "198.51.100.77";
const ctx = (stack: string, secretsAreSecret = true): StackContext => ({
  project: "qwen3-serve",
  stack,
  defaultOwner: "tester",
  myIp: async () => MY_IP,
  isSecret: () => secretsAreSecret,
});

// Single-machine AWS stacks; the fleet stack (team) has its own file, test/fleet.test.ts.
const stacks = stacksFor("aws").filter((s) => !isFleetStack(s));
/**
 * readinessTimeoutSeconds of the dev stack's g4dn.2xlarge plan (DLAMI, Ollama). It reads only the engine image's GiB,
 * the weights' bytes and whether the AMI installs a driver (components/machine/render.ts), none of which depends on
 * the instance type: every candidate of one request gets the same value (1502 for g4dn.xlarge, g4dn.2xlarge and
 * g6.xlarge, checked 2026-11-30). So the fallback test proves the timeout is wired in, not that it follows the launched
 * type (the plan output does that).
 */
const EXPECTED_FALLBACK_TIMEOUT = "1502";
const LT = "aws:ec2/launchTemplate:LaunchTemplate";
const FLEET = "aws:ec2/fleet:Fleet";
/** The instance tags the aws.ec2.Tag resources set, key to value. */
const instanceTags = (): Record<string, string> =>
  Object.fromEntries(
    ofType("aws:ec2/tag:Tag")
      .filter((t) => t.name.includes("-tag-"))
      .map((t) => [String(t.inputs.key), String(t.inputs.value)]),
  );

const userDataOf = (inputs: Record<string, unknown>): string =>
  gunzipSync(Buffer.from(String(inputs.userData), "base64")).toString("utf8");
/** The idle watchdog as every target runs it: the repository's idle.py without its full-line comments. */
const SHIPPED_IDLE_PY = shippedScript(
  readFileSync(path.resolve(__dirname, "..", "components", "machine", "idle.py"), "utf8"),
);
/** The idle.py chunk parameters of a stack: three, as long as the gzipped script's base64 stays within 12,000 characters. */
const idleChunkNames = (stack: string): string[] => [0, 1, 2].map((i) => `/qwen3-serve/${stack}/machine/idle.py/${i}`);
const arnOf = (name: string): string => `arn:aws:ssm:us-east-1:123456789012:parameter${name}`;

/** What each example stack's instance is launched with, written out from the stack files and the plans. */
interface Expected {
  readonly instanceType: string;
  /** The fleet's candidates, one launch template each: the type and its next cheapest whose quota has room. */
  readonly candidates: readonly string[];
  /** The plan's price for that type (on-demand, us-east-1). */
  readonly pricePerHour: number;
  /** The `model` value clients send. */
  readonly modelName: string;
  /** idleAction. */
  readonly shutdown: "stop" | "terminate";
  /** aws.allowedCidrs with myip resolved to the deployer's /32; the proxy port is the default 8080. */
  readonly ingress: readonly string[];
  /** The DLAMI's 100 GiB OS disk + the plan's disk (20, 70, 110 GiB) + rootVolume.extraGiB (0). */
  readonly volumeSize: number;
  readonly iops: number;
  readonly throughput: number;
  /** The tags on every taggable resource (the instance adds Name). */
  readonly tags: Readonly<Record<string, string>>;
}
const EXPECTED: Readonly<Record<string, Expected>> = {
  dev: {
    instanceType: "g4dn.xlarge",
    candidates: ["g4dn.xlarge", "g4dn.2xlarge", "g6.xlarge"],
    pricePerHour: 0.526,
    modelName: "qwen3:8b-q4_K_M",
    shutdown: "terminate",
    ingress: ["198.51.100.77/32"],
    volumeSize: 120,
    iops: 3000,
    throughput: 500,
    tags: {
      "qwen3-serve:project": "qwen3-serve",
      "qwen3-serve:stack": "dev",
      "qwen3-serve:model": "Qwen3-8B",
      "qwen3-serve:engine": "ollama",
      "qwen3-serve:owner": "tester",
      "qwen3-serve:idle-minutes": "30",
    },
  },
  lab: {
    instanceType: "g6e.xlarge",
    // Fallbacks in the plan's order, $ per million tokens: 1 x RTX PRO 6000, then 1 x L40S with more vCPUs.
    candidates: ["g6e.xlarge", "g7e.2xlarge", "g6e.2xlarge"],
    pricePerHour: 1.861,
    modelName: "Qwen3-30B-A3B",
    shutdown: "stop",
    ingress: ["198.51.100.0/24", "198.51.100.77/32"],
    volumeSize: 170,
    iops: 3000,
    throughput: 500,
    tags: {
      "qwen3-serve:project": "qwen3-serve",
      "qwen3-serve:stack": "lab",
      "qwen3-serve:model": "Qwen3-30B-A3B",
      "qwen3-serve:engine": "vllm",
      "qwen3-serve:owner": "ml-lab",
      "qwen3-serve:idle-minutes": "30",
      "qwen3-serve:ttl-hours": "12",
      "qwen3-serve:expires-at": "2027-03-31T00:00:00Z",
    },
  },
  prod: {
    instanceType: "g7e.12xlarge",
    // The stack's $12/h cap leaves one fallback under the default objective.
    candidates: ["g7e.12xlarge", "g6e.12xlarge"],
    pricePerHour: 8.28608,
    modelName: "Qwen3-32B",
    shutdown: "stop",
    ingress: ["10.20.0.0/16", "198.51.100.77/32"],
    volumeSize: 210,
    iops: 4000,
    throughput: 1000,
    tags: {
      "qwen3-serve:project": "qwen3-serve",
      "qwen3-serve:stack": "prod",
      "qwen3-serve:model": "Qwen3-32B",
      "qwen3-serve:engine": "vllm",
      "qwen3-serve:owner": "platform-team",
      "qwen3-serve:idle-minutes": "off",
    },
  },
};
/** The readiness waiter's script, by absolute path in this repository. */
const WAIT_READY_SCRIPT = path.resolve(__dirname, "..", "scripts", "wait-ready.ts");

before(() => useMocks());

describe("example stacks", () => {
  it("are dev, lab and prod single machines on AWS, the team fleet on AWS, one workstation and one Docker stack", () => {
    assert.deepEqual(stacks, ["dev", "lab", "prod"]);
    assert.deepEqual(
      stackNames().map((s) => `${s}:${stackTarget(s)}`),
      ["dev:aws", "docker:docker", "lab:aws", "prod:aws", "team:aws", "workstation:workstation"],
    );
  });

  for (const stack of stacks) {
    describe(stack, () => {
      let out: StackOutputs;
      const want = EXPECTED[stack] as Expected;

      before(async () => {
        await useMocks();
        out = await deployStack(parseStackConfig(decodeConfigValues(stackFileConfig(stack))), ctx(stack));
        await resolveAll(out);
      });

      it("creates exactly the expected resources", () => {
        const types = recorded.map((r) => r.type).sort();
        const mutableTags = Object.keys(want.tags).length - 2; // all but project and stack, on instance and volume
        const expected = [
          ...Array<string>(want.candidates.length).fill(LT),
          FLEET,
          ...Array<string>(2 * mutableTags).fill("aws:ec2/tag:Tag"),
          "aws:ec2/securityGroup:SecurityGroup",
          "aws:ec2transitgateway/instanceState:InstanceState",
          "aws:ec2/eip:Eip",
          "aws:ec2/eipAssociation:EipAssociation",
          "aws:iam/instanceProfile:InstanceProfile",
          "aws:iam/role:Role",
          "aws:iam/rolePolicy:RolePolicy",
          "aws:ssm/parameter:Parameter",
          "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
          ...Array<string>(3).fill("aws:ssm/parameter:Parameter"), // idle.py in three chunks
          ...Array<string>(want.ingress.length).fill("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
          "command:local:Command", // the readiness wait
          "command:local:Command", // the destroy-time wait for the machine's termination
          "qwen3-serve:aws:GpuServer",
          "random:index/randomPassword:RandomPassword",
        ].sort();
        assert.deepEqual(types, expected);
        assert.deepEqual(
          ofType(LT).map((t) => t.inputs.instanceType),
          want.candidates,
        );
      });

      it(
        "the first launch template: the planned type from the family's AMI, IMDSv2 only, encrypted gp3 root on the " +
          "AMI's root device sized from the plan, no network interfaces or market options",
        () => {
          const [template] = ofType(LT);
          assert.ok(template);
          const i = template.inputs;
          assert.equal(i.instanceType, want.instanceType);
          assert.equal(i.imageId, "ami-0mockdlami000000");
          assert.deepEqual(i.metadataOptions, {
            httpTokens: "required",
            httpEndpoint: "enabled",
            httpPutResponseHopLimit: 1,
            instanceMetadataTags: "enabled",
          });
          assert.deepEqual(i.blockDeviceMappings, [
            {
              deviceName: "/dev/sda1",
              ebs: {
                volumeType: "gp3",
                volumeSize: want.volumeSize,
                iops: want.iops,
                throughput: want.throughput,
                encrypted: "true",
                deleteOnTermination: "true",
                // aws.rootVolume.initializationRateMiBps's default: the AMI snapshot loads at 300 MiB/s.
                volumeInitializationRate: 300,
              },
            },
          ]);
          assert.equal(i.instanceInitiatedShutdownBehavior, want.shutdown);
          assert.deepEqual(i.iamInstanceProfile, { name: `${stack}-profile-1c2d` });
          assert.deepEqual(i.vpcSecurityGroupIds, [`${stack}-sg-id`]);
          assert.equal(i.networkInterfaces, undefined);
          assert.equal(i.instanceMarketOptions, undefined, "the fleet chooses the market");
          const identity = {
            "qwen3-serve:project": "qwen3-serve",
            "qwen3-serve:stack": stack,
            "qwen3-serve:component": stack,
            Name: `qwen3-serve-${stack}`,
          };
          const specs = i.tagSpecifications as { resourceType: string; tags: Record<string, string> }[];
          const generation = specs[0]?.tags["qwen3-serve:generation"] ?? "";
          assert.match(
            generation,
            /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
            "no live machine: a new generation, the time",
          );
          for (const spec of specs) delete spec.tags["qwen3-serve:generation"];
          assert.deepEqual(specs, [
            { resourceType: "instance", tags: identity },
            { resourceType: "volume", tags: identity },
          ]);
          assert.deepEqual(registeredOptions.get(`${stack}-lt-${want.instanceType.replace(".", "-")}`)?.ignoreChanges, [
            "imageId",
          ]);
        },
      );

      it("allows ingress only on the proxy port from the configured CIDRs, never 0.0.0.0/0", () => {
        const rules = ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.inputs);
        assert.deepEqual(
          rules.map((r) => [r.cidrIpv4, r.ipProtocol, r.fromPort, r.toPort]),
          want.ingress.map((c) => [c, "tcp", 8080, 8080]),
        );
        assert.ok(!rules.some((r) => r.cidrIpv4 === "0.0.0.0/0"));
        const [egress] = ofType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule");
        assert.deepEqual([egress?.inputs.cidrIpv4, egress?.inputs.ipProtocol], ["0.0.0.0/0", "-1"]);
      });

      it(
        "IAM, evaluated as AWS does over every policy of the role: reads its own API key and idle.py " +
          "chunks, no other stack's or any other, and Session Manager works",
        () => {
          const policies = policiesOfRole(recorded, `${stack}-role-7f3a`);
          const own = `arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/${stack}/api-key`;
          assert.equal(evaluate(policies, "ssm:GetParameter", own), "allow");
          for (const chunk of idleChunkNames(stack))
            assert.equal(evaluate(policies, "ssm:GetParameter", arnOf(chunk)), "allow", chunk);
          assert.equal(
            evaluate(policies, "ssm:GetParameter", arnOf(`/qwen3-serve/${stack}/machine/idle.py/3`)),
            "explicit-deny",
            "a chunk it does not have",
          );
          assert.equal(
            evaluate(policies, "ssm:GetParameter", arnOf("/qwen3-serve/other-stack/machine/idle.py/0")),
            "explicit-deny",
            "another stack's watchdog",
          );
          assert.equal(
            evaluate(policies, "ssm:GetParameters", arnOf(`/qwen3-serve/${stack}/machine/idle.py/0`)),
            "implicit-deny",
            "only GetParameter is granted",
          );
          assert.equal(
            evaluate(
              policies,
              "ssm:GetParameter",
              "arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/other-stack/api-key",
            ),
            "explicit-deny",
          );
          assert.equal(
            evaluate(
              policies,
              "ssm:GetParameters",
              "arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/other-stack/hf-token",
            ),
            "explicit-deny",
          );
          assert.equal(
            evaluate(policies, "ssm:GetParametersByPath", "arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve"),
            "explicit-deny",
          );
          assert.equal(evaluate(policies, "ssm:GetParameter", "*"), "explicit-deny");
          for (const action of [
            "ssm:UpdateInstanceInformation",
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
          ]) {
            assert.equal(evaluate(policies, action, "*"), "allow", action);
          }
          assert.equal(evaluate(policies, "ssm:PutParameter", own), "implicit-deny");
          assert.equal(evaluate(policies, "ec2:StopInstances", "*"), "implicit-deny");
          assert.deepEqual(
            ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"),
            [],
            "no managed policy attached",
          );
          const param = ofType("aws:ssm/parameter:Parameter").find(
            (p) => p.inputs.name === `/qwen3-serve/${stack}/api-key`,
          );
          assert.equal(param?.inputs.type, "SecureString");
        },
      );

      it(
        "stores idle.py as three Standard-tier String parameters <prefix>/machine/idle.py/0..2, each " +
          "under 4,096 characters, whose values joined, base64-decoded and gunzipped are the shipped " +
          "idle.py byte for byte",
        () => {
          const chunks = ofType("aws:ssm/parameter:Parameter").filter((p) =>
            String(p.inputs.name).includes("/machine/"),
          );
          assert.deepEqual(
            chunks.map((c) => c.inputs.name),
            idleChunkNames(stack),
          );
          for (const c of chunks) {
            assert.deepEqual(
              [c.inputs.type, c.inputs.tier, c.inputs.value],
              ["String", "Standard", undefined],
              String(c.inputs.name),
            );
            assert.ok(
              String(c.inputs.insecureValue).length <= 4000,
              `${String(c.inputs.name)} holds ${String(c.inputs.insecureValue).length} characters; Standard allows 4 KB`,
            );
          }
          const joined = chunks.map((c) => String(c.inputs.insecureValue)).join("");
          assert.equal(gunzipSync(Buffer.from(joined, "base64")).toString("utf8"), SHIPPED_IDLE_PY);
        },
      );

      it("puts no secret in user data: only the parameter name, which the machine reads at boot", () => {
        const [instance] = ofType(LT);
        const userData = userDataOf(instance?.inputs ?? {});
        assert.ok(userData.startsWith("#cloud-config\n"));
        assert.ok(!userData.includes(MOCK_API_KEY));
        assert.match(userData, new RegExp(`SSM_API_KEY_PARAM='/qwen3-serve/${stack}/api-key'`));
      });

      it("gzipped user data (the raw form EC2 limits, before base64) is under 16,384 bytes; a failure names the size", () => {
        const [instance] = ofType(LT);
        const raw = Buffer.from(String(instance?.inputs.userData), "base64");
        assert.ok(raw.length < 16384, `${stack}: gzipped user data is ${raw.length} bytes; EC2 takes at most 16384`);
      });

      it(
        "ships the idle watchdog through SSM (user data names its three chunk parameters and the SHA-256 " +
          "of the shipped idle.py, not the file), its window and TTL in the instance's tags (changeable in " +
          "place), powering off into idleAction",
        () => {
          const [instance] = ofType(LT);
          const userData = userDataOf(instance?.inputs ?? {});
          const doc = parse(userData) as { write_files: { path: string; content: string }[] };
          const paths = doc.write_files.map((f) => f.path);
          assert.ok(
            paths.includes("/usr/local/lib/qwen3-serve/idle.sh") && !paths.some((p) => p.endsWith("idle.py")),
            paths.join(" "),
          );
          assert.ok(!userData.includes("def decide("), "none of idle.py's text");
          const env =
            doc.write_files.find((f) => f.path === "/etc/qwen3-serve/bootstrap.env")?.content.split("\n") ?? [];
          assert.ok(env.includes(`SSM_IDLE_PY_PARAMS='${idleChunkNames(stack).join(" ")}'`), env.join("\n"));
          assert.ok(
            env.includes(`IDLE_PY_SHA256='${createHash("sha256").update(SHIPPED_IDLE_PY).digest("hex")}'`),
            env.join("\n"),
          );
          assert.match(userData, /IDLE_SETTINGS='imds-tags'/);
          // Not in user data: a new window must not mean new user data, hence a new instance.
          assert.match(userData, /IDLE_MINUTES=''\n/);
          assert.match(userData, /TTL_HOURS=''\n/);
          assert.match(userData, /IDLE_ACTION='poweroff'/);
          const tags = instanceTags();
          assert.equal(tags["qwen3-serve:idle-minutes"], want.tags["qwen3-serve:idle-minutes"]);
          assert.equal(tags["qwen3-serve:ttl-hours"], want.tags["qwen3-serve:ttl-hours"]);
          assert.equal(instance?.inputs.instanceInitiatedShutdownBehavior, want.shutdown);
        },
      );

      it(
        "tags every taggable resource with exactly the stack's tags (project, stack, model, engine, " +
          "owner, lifetime settings), the fleet also with its Name; the launched instance and its volume " +
          "get every tag but project and stack as aws.ec2.Tag resources (changeable in place)",
        () => {
          const taggable = recorded.filter((r) => r.inputs.tags !== undefined);
          assert.ok(taggable.length >= 7);
          for (const r of taggable) {
            const name = r.type === FLEET ? { Name: `qwen3-serve-${stack}` } : {};
            assert.deepEqual(r.inputs.tags, { ...want.tags, ...name }, r.name);
          }
          const { "qwen3-serve:project": _p, "qwen3-serve:stack": _s, ...mutable } = want.tags;
          assert.deepEqual(instanceTags(), mutable);
          for (const t of ofType("aws:ec2/tag:Tag"))
            assert.equal(
              t.inputs.resourceId,
              t.name.includes("-vtag-") ? `vol-0${stack}-fleet` : `i-0${stack}-fleet`,
              t.name,
            );
        },
      );

      it(
        "waits for readiness once per machine by running the package's waiter by absolute path, with the " +
          "key in the environment, never on the command line",
        () => {
          const wait = ofType("command:local:Command").find((c) => c.name === `${stack}-ready`);
          // The command's form is nodeScriptCommand's own (test/readiness.test.ts); here: the target uses it, for this script.
          assert.equal(wait?.inputs.create, nodeScriptCommand("wait-ready"));
          assert.ok(String(wait?.inputs.create).includes(`'${WAIT_READY_SCRIPT}'`), String(wait?.inputs.create));
          assert.ok(!String(wait?.inputs.create).includes(MOCK_API_KEY));
          // A secret value inside the map makes the whole environment secret in state and diffs.
          const env = secretValue(wait?.inputs.environment) as Record<string, string>;
          assert.equal(env.QS_API_KEY, MOCK_API_KEY);
          assert.equal(env.QS_BASE_URL, `http://${MOCK_ELASTIC_IP}:8080`);
          assert.equal(env.QS_MODEL, want.modelName);
          assert.deepEqual(wait?.inputs.triggers, [`i-0${stack}-fleet`]);
        },
      );

      it(
        "destroy waits for the machine's termination: <stack>-terminated runs only on delete the package's " +
          "wait-terminated with the region and identity tags, depends on the security group, profile and every launch " +
          "template, and the fleet depends on it",
        () => {
          const step = ofType("command:local:Command").find((c) => c.name === `${stack}-terminated`);
          assert.ok(step);
          assert.equal(step.inputs.create, undefined, "nothing runs on pulumi up");
          assert.equal(step.inputs.update, undefined);
          assert.equal(step.inputs.delete, nodeScriptCommand("wait-terminated"));
          assert.deepEqual(step.inputs.environment, {
            AWS_REGION: "us-east-1",
            QS_TAG_PROJECT: "qwen3-serve",
            QS_TAG_STACK: stack,
            QS_TAG_COMPONENT: stack,
          });
          assert.deepEqual(
            [...(registeredOptions.get(`${stack}-terminated`)?.dependsOn ?? [])].sort(),
            [
              `${stack}-profile`,
              `${stack}-sg`,
              ...want.candidates.map((t) => `${stack}-lt-${t.replace(".", "-")}`),
            ].sort(),
          );
          assert.ok(
            registeredOptions.get(`${stack}-fleet`)?.dependsOn.includes(`${stack}-terminated`),
            JSON.stringify(registeredOptions.get(`${stack}-fleet`)?.dependsOn),
          );
        },
      );

      it(
        "gives the endpoint an Elastic IP associated with the instance; endpoint, statusUrl, publicIp " +
          "and the readiness URL use it, never the instance's own IP",
        async () => {
          const [eip] = ofType("aws:ec2/eip:Eip");
          assert.equal(eip?.inputs.domain, "vpc");
          const [assoc] = ofType("aws:ec2/eipAssociation:EipAssociation");
          assert.deepEqual(
            [assoc?.inputs.instanceId, assoc?.inputs.allocationId],
            [`i-0${stack}-fleet`, `eipalloc-0${stack}-eip`],
          );
          assert.equal(await outputValue(out.publicIp), MOCK_ELASTIC_IP);
          assert.equal(await outputValue(out.statusUrl), `http://${MOCK_ELASTIC_IP}:8080/qwen3-serve/status`);
          for (const o of [out.endpoint, out.statusUrl, out.publicIp, out.curlExample])
            assert.ok(!(await outputValue(o)).includes(MOCK_PUBLIC_IP));
        },
      );

      it("exports the region (awsRegion) and starts a stopped on-demand machine through an InstanceState", async () => {
        assert.equal(await outputValue(out.awsRegion ?? pulumi.output("missing")), "us-east-1");
        const [state] = ofType("aws:ec2transitgateway/instanceState:InstanceState");
        assert.deepEqual([state?.inputs.instanceId, state?.inputs.state], [`i-0${stack}-fleet`, "running"]);
      });

      it("exports the endpoint, model, key (secret), instance facts, SSM commands and a curl example", async () => {
        assert.equal(await outputValue(out.endpoint), `http://${MOCK_ELASTIC_IP}:8080/v1`);
        assert.equal(await outputValue(out.modelName), want.modelName);
        assert.equal(await outputValue(out.apiKey), MOCK_API_KEY);
        assert.equal(await pulumi.isSecret(out.apiKey), true);
        assert.equal(await outputValue(out.instanceId), `i-0${stack}-fleet`);
        assert.equal(await outputValue(out.instanceType), want.instanceType);
        assert.equal(await outputValue(out.pricePerHour), want.pricePerHour);
        assert.equal(await outputValue(out.amiId), "ami-0mockdlami000000");
        assert.equal(
          await outputValue(out.connectCommand),
          `aws ssm start-session --region us-east-1 --target i-0${stack}-fleet`,
        );
        const curl = await outputValue(out.curlExample);
        assert.ok(!curl.includes(MOCK_API_KEY) && curl.includes("$(pulumi stack output apiKey --show-secrets)"));
        for (const o of [out.endpoint, out.curlExample, out.statusUrl]) assert.equal(await pulumi.isSecret(o), false);
      });
    });
  }
});

describe("options", () => {
  const base = (): Record<string, string> => stackFileConfig("dev");

  it("changing the idle window, TTL or SSH rule changes tags only: same user data, so the instance is updated, not replaced", async () => {
    const deploy = async (over: Record<string, string>, stack: string): Promise<Record<string, unknown>> => {
      await useMocks();
      await resolveAll(await deployStack(parseStackConfig(decodeConfigValues({ ...base(), ...over })), ctx(stack)));
      return ofType(LT)[0]?.inputs ?? {};
    };
    const a = await deploy({}, "same");
    const b = await deploy(
      { "qwen3-serve:idleMinutes": "90", "qwen3-serve:ttlHours": "6", "qwen3-serve:idleCountsSsh": "true" },
      "same",
    );
    assert.equal(a.userDataBase64, b.userDataBase64);
    const tags = b.tags as Record<string, string>;
    assert.deepEqual(
      [tags["qwen3-serve:idle-minutes"], tags["qwen3-serve:ttl-hours"], tags["qwen3-serve:idle-counts-ssh"]],
      ["90", "6", "true"],
    );
  });

  const spotDeploy = async (idleAction: "stop" | "terminate"): Promise<StackOutputs> => {
    await useMocks();
    const out = await deployStack(
      parseStackConfig(
        decodeConfigValues({ ...base(), "qwen3-serve:spot": "true", "qwen3-serve:idleAction": idleAction }),
      ),
      ctx(`spot-${idleAction}`),
    );
    await resolveAll(out);
    return out;
  };

  it(
    "spot + idleAction terminate: a spot fleet (capacity-optimized-prioritized, interruption terminate), " +
      "launch templates that terminate on poweroff, the spot quota L-3819A6DF checked, no cleanup step, no InstanceState",
    async () => {
      const out = await spotDeploy("terminate");
      const [fleet] = ofType(FLEET);
      assert.deepEqual(fleet?.inputs.targetCapacitySpecification, {
        defaultTargetCapacityType: "spot",
        totalTargetCapacity: 1,
      });
      assert.deepEqual(fleet?.inputs.spotOptions, {
        allocationStrategy: "capacity-optimized-prioritized",
        instanceInterruptionBehavior: "terminate",
      });
      assert.equal(fleet?.inputs.onDemandOptions, undefined);
      for (const t of ofType(LT)) assert.equal(t.inputs.instanceInitiatedShutdownBehavior, "terminate", t.name);
      assert.deepEqual(
        recordedCalls.filter((c) => c.token.startsWith("aws:servicequotas/")).map((c) => c.quotaCode),
        ["L-3819A6DF", "L-3819A6DF"],
      );
      assert.equal(
        ((await outputValue(pulumi.output(out.plan))) as { instance: { market: string } }).instance.market,
        "spot",
      );
      assert.deepEqual(
        ofType("command:local:Command")
          .map((c) => c.name)
          .sort(),
        ["spot-terminate-ready", "spot-terminate-terminated"],
      );
      assert.equal(ofType("aws:ec2transitgateway/instanceState:InstanceState").length, 0);
    },
  );

  it("aws.region: one explicit AWS provider in that region behind every AWS resource and lookup; the region is exported as awsRegion", async () => {
    await useMocks();
    const out = await deployStack(
      parseStackConfig(
        decodeConfigValues({
          ...base(),
          "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], region: "eu-west-1" }),
        }),
      ),
      ctx("eu"),
    );
    await resolveAll(out);
    const [provider] = ofType("pulumi:providers:aws");
    assert.equal(provider?.inputs.region, "eu-west-1");
    const awsResources = recorded.filter((r) => r.type.startsWith("aws:"));
    assert.ok(awsResources.length >= 10);
    for (const r of awsResources) assert.match(r.provider ?? "(none)", /::aws-provider-eu-west-1$/, r.name);
    const awsCalls = recordedCalls.filter((c) => c.token.startsWith("aws:"));
    assert.ok(awsCalls.length >= 4);
    // The quota preflight reads before the component and its provider exist, so each of its calls names the region itself.
    for (const c of awsCalls) {
      const where = c.region ?? c.provider ?? "(none)";
      assert.match(where, c.region !== undefined ? /^eu-west-1$/ : /::aws-provider-eu-west-1$/, c.token);
    }
    assert.deepEqual(
      awsCalls.filter((c) => c.token.startsWith("aws:servicequotas/")).map((c) => [c.quotaCode, c.region]),
      // The first choice, then g4dn.2xlarge (8 vCPUs, more than the 4 already found to fit).
      [
        ["L-DB2E81BA", "eu-west-1"],
        ["L-DB2E81BA", "eu-west-1"],
      ],
    );
    for (const r of recorded.filter((x) => x.type.startsWith("random:") || x.type.startsWith("command:")))
      assert.equal(r.provider?.includes("aws-provider"), undefined, r.name);
    assert.equal(await outputValue(out.awsRegion ?? pulumi.output("missing")), "eu-west-1");
    assert.equal(
      await outputValue(out.connectCommand),
      "aws ssm start-session --region eu-west-1 --target i-0eu-fleet",
    );
    assert.match(userDataOf(ofType(LT)[0]?.inputs ?? {}), /AWS_REGION='eu-west-1'/);
    const terminated = ofType("command:local:Command").find((c) => c.name === "eu-terminated");
    assert.equal((terminated?.inputs.environment as Record<string, string> | undefined)?.AWS_REGION, "eu-west-1");
  });

  it("TLS opens port 80 to everyone only with tls.openPort80ForAcme, without allowPublicIngress; the Route 53 record points at the Elastic IP", async () => {
    await useMocks();
    const tls = {
      domain: "llm.example.com",
      email: "ops@example.com",
      hostedZoneId: "Z0123456789ABC",
      openPort80ForAcme: true,
    };
    const out = await deployStack(
      parseStackConfig(
        decodeConfigValues({ ...base(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], tls }) }),
      ),
      ctx("tls"),
    );
    await resolveAll(out);
    const rules = ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => [
      r.inputs.cidrIpv4,
      r.inputs.fromPort,
    ]);
    assert.deepEqual(rules, [
      ["10.0.0.0/8", 8080],
      ["0.0.0.0/0", 80],
    ]);
    assert.deepEqual(ofType("aws:route53/record:Record")[0]?.inputs.records, [MOCK_ELASTIC_IP]);
    assert.equal(await outputValue(out.endpoint), "https://llm.example.com:8080/v1");
  });

  it("Pulumi.yaml refreshes before every update, so the InstanceState sees a machine the watchdog stopped", () => {
    const project = parse(readFileSync(path.resolve(__dirname, "..", "Pulumi.yaml"), "utf8")) as {
      options?: { refresh?: string };
    };
    assert.equal(project.options?.refresh, "always");
  });

  it("private: no public IP, no Elastic IP, no ingress, no readiness wait; reach it through the SSM port forward", async () => {
    await useMocks();
    const out = await deployStack(
      parseStackConfig(
        decodeConfigValues({
          ...base(),
          "qwen3-serve:aws": JSON.stringify({ private: true, subnetId: "subnet-0123456789abcdef0" }),
        }),
      ),
      ctx("private"),
    );
    await resolveAll(out);
    // No network interfaces: the public IP follows the subnet's MapPublicIpOnLaunch (a private subnet's is off).
    assert.equal(ofType(LT)[0]?.inputs.networkInterfaces, undefined);
    const overrides = (
      (ofType(FLEET)[0]?.inputs.launchTemplateConfigs ?? []) as { overrides: { subnetId: string }[] }[]
    ).flatMap((c) => c.overrides.map((o) => o.subnetId));
    assert.deepEqual(
      [...new Set(overrides)],
      ["subnet-0123456789abcdef0"],
      "the given subnet only: type fallback, no zone fallback",
    );
    assert.equal(ofType("aws:ec2/eip:Eip").length, 0);
    assert.equal(await outputValue(out.publicIp), "");
    assert.equal(ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").length, 0);
    assert.deepEqual(
      ofType("command:local:Command").map((c) => c.name),
      ["private-terminated"],
      "the destroy-time wait only",
    );
    assert.equal(await outputValue(out.endpoint), "http://127.0.0.1:8080/v1");
    assert.match(
      await outputValue(out.portForwardCommand),
      /--document-name AWS-StartPortForwardingSession --parameters portNumber=8080,localPortNumber=8080$/,
    );
  });

  it(
    "an unpinned AMI (the family's latest) makes launch templates with ignoreChanges [imageId]; a pinned one is " +
      "used as given, without ignoreChanges",
    async () => {
      await useMocks();
      await resolveAll(await deployStack(parseStackConfig(decodeConfigValues(base())), ctx("unpinned")));
      assert.equal(ofType(LT)[0]?.inputs.imageId, "ami-0mockdlami000000");
      assert.deepEqual(registeredOptions.get("unpinned-lt-g4dn-xlarge")?.ignoreChanges, ["imageId"]);
      await useMocks();
      await resolveAll(
        await deployStack(
          parseStackConfig(
            decodeConfigValues({
              ...base(),
              "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], amiId: "ami-0123456789abcdef0" }),
            }),
          ),
          ctx("pinned"),
        ),
      );
      assert.equal(ofType(LT)[0]?.inputs.imageId, "ami-0123456789abcdef0");
      assert.deepEqual(registeredOptions.get("pinned-lt-g4dn-xlarge")?.ignoreChanges, []);
    },
  );

  it(
    "aws.rootVolume.initializationRateMiBps: 150 puts volumeInitializationRate 150 on the root volume; 0 leaves the " +
      "field out (EBS's default initialization)",
    async () => {
      const rateOf = async (rate: number, stack: string): Promise<unknown> => {
        await useMocks();
        const aws = { allowedCidrs: ["10.0.0.0/8"], rootVolume: { initializationRateMiBps: rate } };
        const raw = { ...base(), "qwen3-serve:aws": JSON.stringify(aws) };
        await resolveAll(await deployStack(parseStackConfig(decodeConfigValues(raw)), ctx(stack)));
        const templates = ofType(LT);
        assert.equal(templates.length, 3, "one launch template per candidate");
        const ebs = templates.map((t) => (t.inputs.blockDeviceMappings as { ebs: Record<string, unknown> }[])[0]?.ebs);
        assert.ok(ebs.every((e) => e?.volumeInitializationRate === ebs[0]?.volumeInitializationRate));
        return ebs[0] !== undefined && "volumeInitializationRate" in ebs[0]
          ? ebs[0].volumeInitializationRate
          : "absent";
      };
      assert.equal(await rateOf(150, "rate150"), 150);
      assert.equal(await rateOf(0, "rate0"), "absent");
    },
  );

  it("plain Ubuntu: Canonical's parameter, a small OS disk, and the bootstrap installs the driver", async () => {
    await useMocks();
    const out = await deployStack(
      parseStackConfig(
        decodeConfigValues({
          ...base(),
          "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], ami: "ubuntu-22.04" }),
        }),
      ),
      ctx("ubuntu"),
    );
    await resolveAll(out);
    const [instance] = ofType(LT);
    // Plain Ubuntu's 30 GiB OS disk (not the DLAMI's 100) + the dev plan's 20 GiB.
    assert.equal(
      ((instance?.inputs.blockDeviceMappings ?? []) as { ebs: { volumeSize: number } }[])[0]?.ebs.volumeSize,
      50,
    );
    assert.match(userDataOf(instance?.inputs ?? {}), /DRIVER_POLICY='install'/);
  });

  it("the HF token goes to its own SecureString, which the role may read (as AWS evaluates it), never into user data", async () => {
    await useMocks();
    const out = await deployStack(
      parseStackConfig(decodeConfigValues({ ...base(), "qwen3-serve:hfToken": "hf_secretTokenValue123" })),
      ctx("hf"),
    );
    await resolveAll(out);
    const params = ofType("aws:ssm/parameter:Parameter")
      .map((p) => String(p.inputs.name))
      .sort();
    assert.deepEqual(params, ["/qwen3-serve/hf/api-key", "/qwen3-serve/hf/hf-token", ...idleChunkNames("hf")]);
    const policies = policiesOfRole(recorded, "hf-role-7f3a");
    for (const name of params)
      assert.equal(
        evaluate(policies, "ssm:GetParameter", `arn:aws:ssm:us-east-1:123456789012:parameter${name}`),
        "allow",
        name,
      );
    assert.ok(!userDataOf(ofType(LT)[0]?.inputs ?? {}).includes("hf_secretTokenValue123"));
  });
});

describe("config mistakes fail before anything is declared", () => {
  const dev = (): Record<string, string> => stackFileConfig("dev");
  const mistake = async (raw: Record<string, string>, message: string, hfTokenIsSecret = true): Promise<void> => {
    await useMocks();
    await assert.rejects(
      (async () => deployStack(parseStackConfig(decodeConfigValues(raw)), ctx("bad", hfTokenIsSecret)))(),
      (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.equal(e.message, message);
        return true;
      },
    );
    await settle();
    assert.deepEqual(recorded, [], "no resource was declared");
  };

  it("a misspelled key is named, with the valid keys", () =>
    mistake(
      { ...dev(), "qwen3-serve:idleMinuts": "30" },
      'idleMinuts = "idleMinuts": unknown setting.\n' +
        "Did you mean idleMinutes? Check the spelling; settings are case-sensitive.\n" +
        "Valid choices: model, engine, quantization, context, concurrency, modelRevision, families, " +
        "instanceTypes, maxPricePerHour, maxMonthlyCost, objective, minTokensPerSecond, spot, target, owner, tags, idleMinutes, idleCountsSsh, " +
        "ttlHours, expiresAt, idleAction, hfToken, sshPrivateKey, fleet, aws, workstation, docker",
    ));

  it("a tag key EC2 cannot serve through instance metadata is refused, naming it", async () => {
    await useMocks();
    assert.throws(
      () => parseStackConfig(decodeConfigValues({ ...dev(), "qwen3-serve:tags": JSON.stringify({ "team/ml": "x" }) })),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(
          e.message,
          'tags = "team/ml": tag keys are 1-128 letters, digits and + - = . , _ : @ (no spaces or /).\nRename the key.',
        );
        return true;
      },
    );
    assert.deepEqual(recorded, []);
  });

  it("a misspelled nested key is named with its path", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidr: ["10.0.0.0/8"] }) },
      'aws.allowedCidr = "aws.allowedCidr": unknown setting.\n' +
        "Did you mean allowedCidrs? Check the spelling; settings are case-sensitive.\n" +
        "Valid choices: region, instanceType, ami, amiId, subnetId, allowedCidrs, allowPublicIngress, " +
        "private, ssh, proxyPort, tls, rootVolume, waitForReady, skipQuotaCheck, fallbackTypes, spotFallback, engineImageDigest, weightsCache",
    ));

  it("a root volume initialization rate between 1 and 99 MiB/s is refused with EBS's range and the way to turn it off", () =>
    mistake(
      {
        ...dev(),
        "qwen3-serve:aws": JSON.stringify({
          allowedCidrs: ["10.0.0.0/8"],
          rootVolume: { initializationRateMiBps: 50 },
        }),
      },
      'aws.rootVolume.initializationRateMiBps = "50": EBS' +
        " provisions a volume initialization rate of 100 to 300 MiB/s only.\n" +
        "Set it between 100 and 300, or 0 to leave the root volume at EBS's default (unbilled) initialization.\n" +
        "Valid choices: 0, 100-300",
    ));

  const narrower =
    "Use narrower CIDRs (a /8 or smaller, or the private 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), " +
    "or set aws.allowPublicIngress: true if you really mean it.";

  it("0.0.0.0/0 is refused unless explicitly allowed", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["0.0.0.0/0"] }) },
      `aws.allowedCidrs = "0.0.0.0/0": opens the port to the whole internet.\n${narrower}`,
    ));

  it("0.0.0.0/1 with 128.0.0.0/1 (the whole internet in two halves) is refused at the first half", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["0.0.0.0/1", "128.0.0.0/1"] }) },
      `aws.allowedCidrs = "0.0.0.0/1": opens the port to 2147483648 addresses, a public range broader than a /8.\n${narrower}`,
    ));

  it("1.2.3.4/0 (which AWS reads as 0.0.0.0/0) is refused for its host bits, naming the network", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["1.2.3.4/0"] }) },
      'aws.allowedCidrs = "1.2.3.4/0": has host bits set past the /0: the network is 0.0.0.0/0.\nWrite 0.0.0.0/0, or 1.2.3.4/32 for that one address.',
    ));

  it("10.0.0.1/8 is refused with 10.0.0.0/8 suggested; in ssh.allowedCidrs too", async () => {
    await mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.1/8"] }) },
      'aws.allowedCidrs = "10.0.0.1/8": has host bits set past the /8: the network is 10.0.0.0/8.\nWrite 10.0.0.0/8, or 10.0.0.1/32 for that one address.',
    );
    await mistake(
      {
        ...dev(),
        "qwen3-serve:aws": JSON.stringify({
          allowedCidrs: ["10.0.0.0/8"],
          ssh: { keyName: "k", allowedCidrs: ["64.0.0.0/2"] },
        }),
      },
      `aws.ssh.allowedCidrs = "64.0.0.0/2": opens the port to 1073741824 addresses, a public range broader than a /8.\n${narrower}`,
    );
  });

  it("a public range broader than a /8 passes with allowPublicIngress; private ranges of any size and a public /8 pass without it", async () => {
    for (const [cidrs, allow] of [
      [["0.0.0.0/1", "128.0.0.0/1"], true],
      [["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "44.0.0.0/8"], false],
    ] as const) {
      await useMocks();
      await resolveAll(
        await deployStack(
          parseStackConfig(
            decodeConfigValues({
              ...dev(),
              "qwen3-serve:aws": JSON.stringify({ allowedCidrs: cidrs, allowPublicIngress: allow }),
            }),
          ),
          ctx("cidrs"),
        ),
      );
      assert.deepEqual(
        ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.inputs.cidrIpv4),
        cidrs,
      );
    }
  });

  it("tls without openPort80ForAcme is refused, naming that key", () =>
    mistake(
      {
        ...dev(),
        "qwen3-serve:aws": JSON.stringify({
          allowedCidrs: ["10.0.0.0/8"],
          allowPublicIngress: true,
          tls: { domain: "llm.example.com", email: "ops@example.com" },
        }),
      },
      "aws.tls.openPort80ForAcme = \"false\": Let's Encrypt's HTTP-01 check must reach port 80 from " +
        "the whole internet to issue the certificate.\n" +
        "Set aws.tls.openPort80ForAcme: true to open port 80 to everyone (only the ACME challenge is " +
        "answered there), or drop tls.\nValid choices: true",
    ));

  it("private without subnetId is refused, naming aws.subnetId and the route it needs", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ private: true }) },
      'aws.subnetId = "(missing)": a private machine has no public IP, and the default VPC\'s subnets ' +
        "reach the internet only through public IPs, so it could reach neither SSM nor the image " +
        "registry nor Hugging Face.\n" +
        "Set aws.subnetId to a private subnet with a route out: a NAT gateway, or VPC interface " +
        "endpoints for ssm, ssmmessages and ec2messages plus a way to reach the image registry and " +
        "huggingface.co (a NAT gateway or an HTTPS proxy).",
    ));

  it("plain Ubuntu on p6-b200 (NVLink subnet manager needed) is refused before anything is declared, naming aws.ami and the Deep Learning AMI families", () =>
    mistake(
      {
        ...dev(),
        "qwen3-serve:model": "Qwen/Qwen3-235B-A22B",
        "qwen3-serve:engine": "vllm",
        "qwen3-serve:idleAction": "stop",
        "qwen3-serve:aws": JSON.stringify({
          ami: "ubuntu-24.04",
          instanceType: "p6-b200.48xlarge",
          allowedCidrs: ["203.0.113.0/24"],
        }),
      },
      'aws.ami = "ubuntu-24.04": plain Ubuntu cannot run the planned instance: p6-b200.48xlarge needs ' +
        "NVIDIA's NVLink subnet manager (nvlsm) besides the fabric manager, which the bootstrap cannot " +
        "install on plain Ubuntu.\n" +
        "Set aws.ami to a Deep Learning AMI family (its image ships the fabric manager), or pin a " +
        "smaller aws.instanceType.\nValid choices: dlami-ubuntu-24.04, dlami-ubuntu-22.04",
    ));

  it("a user tag with the reserved qwen3-serve: prefix is refused, naming tags and the key", () =>
    mistake(
      { ...dev(), "qwen3-serve:tags": JSON.stringify({ team: "ml", "qwen3-serve:ttl-hours": "9999" }) },
      'tags = "qwen3-serve:ttl-hours": the qwen3-serve: prefix is reserved for the tags this program ' +
        "sets; the idle watchdog and the reaper act on them.\n" +
        "Rename the key without the qwen3-serve: prefix.",
    ));

  it("allowedCidrs is required unless private", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({}) },
      'aws.allowedCidrs = "(missing)": required: who may reach the endpoint port.\n' +
        'List CIDRs such as ["myip"] or ["203.0.113.0/24"], or set private: true and reach it through an ' +
        "SSM port forward.",
    ));

  it("a pinned instance type too small for the model names the type and why", () =>
    mistake(
      {
        ...dev(),
        "qwen3-serve:model": "Qwen3-32B",
        "qwen3-serve:engine": "vllm",
        "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], instanceType: "g6.xlarge" }),
      },
      'aws.instanceType = "g6.xlarge": cannot hold Qwen3-32B (needs 80.1 GiB per GPU at TP 1, has ' +
        "22.4).\nRemove the pin to let the plan choose (it picks g7e.2xlarge), or lower quantization, " +
        "context or concurrency.",
    ));

  it("a bad value names the key, the value and the choices", () =>
    mistake(
      { ...dev(), "qwen3-serve:idleAction": "hibernate" },
      'idleAction = "hibernate": not one of the valid choices.\nPick one of the valid choices.\nValid choices: stop, terminate',
    ));

  it("a plain-text HF token is refused", () =>
    mistake(
      { ...dev(), "qwen3-serve:hfToken": "hf_plain" },
      'hfToken = "(plain text)": the Hugging Face token is stored in plain text in the stack file.\n' +
        "Set it with `pulumi config set --secret qwen3-serve:hfToken <value>`.",
      false,
    ));
});

describe("GpuServer declared by a user's own program", () => {
  const declareServer = async (idle: ConstructorParameters<typeof GpuServer>[1]["idle"]): Promise<void> => {
    await useMocks();
    const server = new GpuServer("my server", {
      plan: buildPlan(parsePlanRequest({ model: "Qwen3-8B", engine: "vllm" })),
      amiFamily: "dlami-ubuntu-24.04",
      allowedCidrs: ["203.0.113.7/32"],
      private: false,
      proxyPort: 8080,
      rootVolume: { throughputMiBps: 500, iops: 3000, extraGiB: 0 },
      shutdownBehavior: "stop",
      idle,
      waitForReady: false,
    });
    await resolveAll({ endpoint: server.endpoint, apiKey: server.apiKey, region: server.region });
  };

  it(
    "without parameterPrefix, tags or the watchdog's action and source: SSM names under " +
      "/qwen3-serve/<project>/<stack>/<name> (space made -), window, TTL and SSH rule in the " +
      "instance's tags and read from there, powering off",
    async () => {
      await declareServer({ minutes: 45, ttlHours: 8, countSsh: true });
      // The mocks run as project qwen3-serve, stack test (test/helpers/pulumiMocks.ts).
      const prefix = "/qwen3-serve/qwen3-serve/test/my-server";
      assert.deepEqual(
        ofType("aws:ssm/parameter:Parameter")
          .map((p) => String(p.inputs.name))
          .sort(),
        [
          `${prefix}/api-key`,
          `${prefix}/machine/idle.py/0`,
          `${prefix}/machine/idle.py/1`,
          `${prefix}/machine/idle.py/2`,
        ],
      );
      const [instance] = ofType(LT);
      assert.deepEqual(instanceTags(), {
        "qwen3-serve:idle-minutes": "45",
        "qwen3-serve:idle-counts-ssh": "true",
        "qwen3-serve:ttl-hours": "8",
      });
      const userData = userDataOf(instance?.inputs ?? {});
      assert.match(userData, new RegExp(`SSM_API_KEY_PARAM='${prefix}/api-key'`));
      assert.match(userData, /IDLE_SETTINGS='imds-tags'/);
      assert.match(userData, /IDLE_MINUTES=''\n/);
      assert.match(userData, /IDLE_ACTION='poweroff'/);
    },
  );

  it("a rootVolume without initializationRateMiBps leaves volumeInitializationRate off the root volume", async () => {
    await declareServer({ minutes: 45, ttlHours: null, countSsh: false });
    const [instance] = ofType(LT);
    const [root] = (instance?.inputs.blockDeviceMappings ?? []) as { ebs: Record<string, unknown> }[];
    assert.equal(root?.ebs.volumeType, "gp3");
    assert.ok(!("volumeInitializationRate" in (root?.ebs ?? {})));
  });

  it("idle.fromInstanceTags false: the window goes in user data and the instance carries only its Name tag", async () => {
    await declareServer({ minutes: 45, ttlHours: null, countSsh: false, fromInstanceTags: false });
    const [instance] = ofType(LT);
    assert.deepEqual(instanceTags(), {}, "no mutable tag");
    assert.deepEqual(ofType(FLEET)[0]?.inputs.tags, { Name: "qwen3-serve-my server" });
    const userData = userDataOf(instance?.inputs ?? {});
    assert.match(userData, /IDLE_SETTINGS='env'/);
    assert.match(userData, /IDLE_MINUTES='45'/);
  });
});

describe("plans for the example stacks", () => {
  it("match what the stack files' comments promise", () => {
    const pick = (s: string): [string, number] => {
      const p = planForStack(parseStackConfig(decodeConfigValues(stackFileConfig(s))));
      return [p.instance.type, p.instance.pricePerHour];
    };
    assert.deepEqual(pick("dev"), ["g4dn.xlarge", 0.526]);
    assert.deepEqual(pick("lab"), ["g6e.xlarge", 1.861]);
    assert.deepEqual(pick("prod"), ["g7e.12xlarge", 8.28608]);
  });
});

describe("capacity fallback through an EC2 Fleet of type instant (the Fleet mock takes the lowest priority with capacity)", () => {
  const dev = (over: Record<string, string> = {}, aws: Record<string, unknown> = {}): Record<string, string> => ({
    ...stackFileConfig("dev"),
    "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], ...aws }),
    ...over,
  });
  const deploy = async (raw: Record<string, string>, stack = "fb"): Promise<StackOutputs> => {
    const out = await deployStack(parseStackConfig(decodeConfigValues(raw)), ctx(stack));
    await resolveAll(out);
    return out;
  };
  const overridesOf = (fleet: { inputs: Record<string, unknown> } | undefined): [string, string, number][] =>
    (
      (fleet?.inputs.launchTemplateConfigs ?? []) as {
        overrides: { instanceType: string; subnetId: string; priority: number }[];
      }[]
    ).flatMap((c) => c.overrides.map((o): [string, string, number] => [o.instanceType, o.subnetId, o.priority]));
  const sub = (letter: string): string => `subnet-0${letter.repeat(16)}`;

  it(
    "dev: one instant fleet, terminateInstances, on-demand prioritized, capacity 1; overrides = the plan's type and its two " +
      "next cheapest × every default subnet in a zone offering it, in priority order; replaced (old first) on any change or a new generation",
    async () => {
      await useMocks();
      await deploy(dev());
      const fleets = ofType(FLEET);
      assert.equal(fleets.length, 1);
      const f = fleets[0]?.inputs ?? {};
      assert.equal(f.type, "instant");
      assert.equal(f.terminateInstances, true);
      assert.deepEqual(f.targetCapacitySpecification, {
        defaultTargetCapacityType: "on-demand",
        totalTargetCapacity: 1,
      });
      assert.deepEqual(f.onDemandOptions, { allocationStrategy: "prioritized" });
      assert.equal(f.spotOptions, undefined);
      assert.deepEqual(overridesOf(fleets[0]), [
        ["g4dn.xlarge", sub("a"), 0],
        ["g4dn.xlarge", sub("b"), 1],
        ["g4dn.xlarge", sub("c"), 2],
        ["g4dn.xlarge", sub("d"), 3],
        // us-east-1e offers it but has no default subnet.
        ["g4dn.xlarge", sub("f"), 4],
        ["g4dn.2xlarge", sub("a"), 100],
        ["g4dn.2xlarge", sub("b"), 101],
        ["g4dn.2xlarge", sub("c"), 102],
        ["g4dn.2xlarge", sub("d"), 103],
        ["g4dn.2xlarge", sub("f"), 104],
        ["g6.xlarge", sub("b"), 201],
        ["g6.xlarge", sub("c"), 202],
      ]);
      const specs = (f.launchTemplateConfigs as { launchTemplateSpecification: unknown }[]).map(
        (c) => c.launchTemplateSpecification,
      );
      assert.deepEqual(specs, [
        { launchTemplateId: "lt-0fb-lt-g4dn-xlarge", version: "1" },
        { launchTemplateId: "lt-0fb-lt-g4dn-2xlarge", version: "1" },
        { launchTemplateId: "lt-0fb-lt-g6-xlarge", version: "1" },
      ]);
      const options = registeredOptions.get("fb-fleet");
      assert.equal(options?.deleteBeforeReplace, true);
      assert.deepEqual(options?.replaceOnChanges, ["launchTemplateConfigs", "targetCapacitySpecification"]);
      const tags =
        ((ofType(LT)[0]?.inputs.tagSpecifications ?? []) as { tags: Record<string, string> }[])[0]?.tags ?? {};
      assert.equal(options?.replacementTrigger, tags["qwen3-serve:generation"]);
    },
  );

  it("a live machine hands its generation tag back: the templates stamp it and the fleet's replacementTrigger is unchanged", async () => {
    await useMocks();
    account.instances = [
      {
        id: "i-0live",
        type: "g4dn.xlarge",
        tags: {
          "qwen3-serve:project": "qwen3-serve",
          "qwen3-serve:stack": "gen",
          "qwen3-serve:component": "gen",
          "qwen3-serve:generation": "g1",
        },
      },
    ];
    await deploy(dev(), "gen");
    const tags = ((ofType(LT)[0]?.inputs.tagSpecifications ?? []) as { tags: Record<string, string> }[])[0]?.tags ?? {};
    assert.equal(tags["qwen3-serve:generation"], "g1");
    assert.equal(registeredOptions.get("gen-fleet")?.replacementTrigger, "g1");
  });

  it("a pinned aws.instanceType: one launch template, overrides of that type only, still in every zone offering it", async () => {
    await useMocks();
    await deploy(dev({}, { instanceType: "g4dn.xlarge" }));
    assert.deepEqual(
      ofType(LT).map((t) => t.inputs.instanceType),
      ["g4dn.xlarge"],
    );
    assert.deepEqual(
      overridesOf(ofType(FLEET)[0]).map(([t, s]) => `${t}@${s.slice(-1)}`),
      ["g4dn.xlarge@a", "g4dn.xlarge@b", "g4dn.xlarge@c", "g4dn.xlarge@d", "g4dn.xlarge@f"],
    );
  });

  it(
    "g4dn.xlarge out everywhere: outputs instanceType g4dn.2xlarge, its price 0.752, its zone, its plan; the readiness " +
      "timeout, Elastic IP and InstanceState follow the launched instance",
    async () => {
      await useMocks();
      capacity.noCapacity = new Set(["g4dn.xlarge"]);
      const out = await deploy(dev());
      assert.equal(await outputValue(out.instanceType), "g4dn.2xlarge");
      assert.equal(await outputValue(out.pricePerHour), 0.752);
      assert.equal(await outputValue(out.availabilityZone ?? pulumi.output("missing")), "us-east-1a");
      const plan = (await outputValue(pulumi.output(out.plan))) as { instance: { type: string } };
      assert.equal(plan.instance.type, "g4dn.2xlarge");
      const ready = ofType("command:local:Command").find((c) => c.name === "fb-ready");
      const env = secretValue(ready?.inputs.environment) as Record<string, string>;
      assert.equal(env.QS_TIMEOUT_SECONDS, EXPECTED_FALLBACK_TIMEOUT);
      assert.equal(ofType("aws:ec2/eipAssociation:EipAssociation")[0]?.inputs.instanceId, "i-0fb-fleet");
      assert.equal(ofType("aws:ec2transitgateway/instanceState:InstanceState")[0]?.inputs.instanceId, "i-0fb-fleet");
    },
  );

  it(
    "nothing launched (every candidate × zone out of capacity): launchedOf reads the empty instance set as null; the outputs built on " +
      "the instance reject with one ResourceError on the fleet (stack hidden) naming the fleet id and the describe-fleets command, " +
      "the endpoint never resolves, and " +
      "every unhandled rejection and error log is that same refusal",
    async () => {
      await useMocks();
      assert.equal(launchedOf([]), null);
      assert.deepEqual(launchedOf([{ instanceIds: ["i-0a"], instanceType: "g6.xlarge", lifecycle: "spot" }]), {
        id: "i-0a",
        type: "g6.xlarge",
        market: "spot",
      });
      capacity.noCapacity = new Set(
        Object.entries(DEV_OFFERED).flatMap(([type, zones]) => zones.map((z) => `${type}@us-east-1${z}`)),
      );
      const {
        result: outcomes,
        rejections,
        errorLogs,
      } = await collectEscapes(async () => {
        const out = await deployStack(parseStackConfig(decodeConfigValues(dev())), ctx("none"));
        const watched = Object.entries(out as Record<string, unknown>).filter(
          (e): e is [string, pulumi.Output<unknown>] => pulumi.Output.isInstance(e[1]),
        );
        return watched.map(([k, o]) => [k, watchOutcome(o)] as const);
      });
      const outcome = Object.fromEntries(outcomes.map(([k, read]) => [k, read()]));
      // Every override was out of capacity by its own type@zone, not by a market-wide switch.
      assert.ok(
        overridesOf(ofType(FLEET)[0]).every(([t, s]) => capacity.noCapacity.has(`${t}@us-east-1${s.slice(-1)}`)),
      );
      assert.equal(ofType(FLEET).length, 1);
      const refusal = (outcome.instanceId as { error?: unknown }).error;
      // A ResourceError on the fleet with its stack hidden: the CLI prints its message alone (run.js uncaughtHandler).
      assert.ok(pulumi.ResourceError.isInstance(refusal), String(refusal));
      assert.equal(refusal.hideStack, true);
      assert.ok(refusal.resource !== undefined);
      assert.match(await outputValue(refusal.resource.urn), /aws:ec2\/fleet:Fleet::none-fleet$/);
      // Each resource whose input carries the error prefixes its property name to the same object's message, in place
      // (runtime/rpc.js serializeAllKeys, @pulumi/pulumi 3.248.0), so the message is the refusal behind those prefixes.
      const text =
        'instanceType = "g4dn.xlarge,g4dn.2xlarge,g6.xlarge": EC2 fleet fleet-0none-fleet launched no instance: no capacity ' +
        "for g4dn.xlarge, g4dn.2xlarge, g6.xlarge in any zone tried, or a quota or permission error.\n" +
        "See why in its Errors list: aws ec2 describe-fleets --region us-east-1 --fleet-ids fleet-0none-fleet\n" +
        "The next `pulumi up` replaces the fleet and tries again.";
      const unprefixed = (m: string): string => m.replace(/^(error serializing property "\w+": )+/, "");
      assert.equal(unprefixed(refusal.message), text);
      const failed = Object.keys(outcome).filter((k) => (outcome[k] as { error?: unknown }).error === refusal);
      assert.deepEqual(failed, [
        "instanceId",
        "instanceType",
        "pricePerHour",
        "amiId",
        "connectCommand",
        "portForwardCommand",
        "availabilityZone",
        "plan",
      ]);
      // The readiness wait's registration fails on its instance-id trigger, so the SDK never resolves its outputs.
      assert.deepEqual(
        Object.keys(outcome).filter((k) => outcome[k] === "pending"),
        ["endpoint", "curlExample"],
      );
      assert.deepEqual(
        Object.keys(outcome).filter((k) => outcome[k] !== "pending" && !failed.includes(k)),
        ["modelName", "apiKey", "publicIp", "statusUrl", "awsRegion"],
        "resolved: nothing else failed",
      );
      assert.ok(rejections.length > 0, "the failed registrations reject unhandled, as the CLI sees them");
      assert.ok(
        rejections.every((r) => r === refusal),
        "every unhandled rejection is the refusal itself (the CLI reports it once)",
      );
      // The SDK logs the failed lookup with the error's stack, which holds the refusal and no stack frames.
      const logPrefix =
        "error: [runtime] Error serializing arguments for invoke aws:ec2/getInstance:getInstance: Error: ";
      assert.equal(errorLogs.length, 1, "nothing else is logged as an error");
      assert.equal(errorLogs[0], `${logPrefix}${text}`);
    },
  );

  it(
    "spot with spotFallback on-demand and no spot capacity: a second fleet, on-demand prioritized, with on-demand " +
      "templates; the on-demand quota checked",
    async () => {
      await useMocks();
      capacity.noCapacity = new Set(["spot"]);
      const out = await deploy(
        dev({ "qwen3-serve:spot": "true", "qwen3-serve:idleAction": "terminate" }, { spotFallback: "on-demand" }),
        "sf",
      );
      assert.deepEqual(
        ofType(FLEET).map((f) => [
          f.name,
          (f.inputs.targetCapacitySpecification as { defaultTargetCapacityType: string }).defaultTargetCapacityType,
        ]),
        [
          ["sf-fleet", "spot"],
          ["sf-fleet-od", "on-demand"],
        ],
      );
      assert.deepEqual(ofType(FLEET)[1]?.inputs.onDemandOptions, { allocationStrategy: "prioritized" });
      // The destroy-time wait sits between both fleets and every template of both pools.
      for (const fleet of ["sf-fleet", "sf-fleet-od"])
        assert.ok(registeredOptions.get(fleet)?.dependsOn.includes("sf-terminated"), fleet);
      assert.deepEqual([...(registeredOptions.get("sf-terminated")?.dependsOn ?? [])].sort(), [
        "sf-lt-g4dn-2xlarge",
        "sf-lt-g4dn-xlarge",
        "sf-lt-g6-xlarge",
        "sf-lt-od-g4dn-2xlarge",
        "sf-lt-od-g4dn-xlarge",
        "sf-lt-od-g6-xlarge",
        "sf-profile",
        "sf-sg",
      ]);
      assert.deepEqual(
        ofType(LT).map((t) => t.name),
        [
          "sf-lt-g4dn-xlarge",
          "sf-lt-g4dn-2xlarge",
          "sf-lt-g6-xlarge",
          "sf-lt-od-g4dn-xlarge",
          "sf-lt-od-g4dn-2xlarge",
          "sf-lt-od-g6-xlarge",
        ],
      );
      assert.equal(await outputValue(out.instanceType), "g4dn.xlarge");
      assert.equal(await outputValue(out.pricePerHour), 0.526, "the on-demand price");
      assert.ok(
        recordedCalls.some((c) => c.quotaCode === "L-DB2E81BA"),
        "the on-demand quota is read for the on-demand pool",
      );
    },
  );

  it("spot + idleAction stop is refused before anything is declared, naming idleAction", async () => {
    await useMocks();
    assert.throws(
      () => parseStackConfig(decodeConfigValues(dev({ "qwen3-serve:spot": "true", "qwen3-serve:idleAction": "stop" }))),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(
          e.message,
          'idleAction = "stop": a spot machine launched through an EC2 Fleet cannot be stopped (AWS: only persistent spot ' +
            "requests can stop; a fleet's spot request is one-time); an idle stop or an interruption would terminate it " +
            "and delete its disk.\nSet idleAction: terminate (the disk and downloaded weights go with the machine), or " +
            "spot: false to keep stop.",
        );
        return true;
      },
    );
    assert.deepEqual(recorded, []);
  });
});

describe("aws.weightsCache: s3 (the shared S3 weights mirror)", () => {
  const BUCKET = "qwen3-serve-weights-5f3a9c0e1d2b";
  const HF_REV = "0123456789abcdef0123456789abcdef01234567";
  const OLLAMA_REV = "a".repeat(64);
  const HF_PREFIX = `v1/hf/Qwen/Qwen3-30B-A3B-FP8/${HF_REV}`;
  const OLLAMA_PREFIX = `v1/ollama/qwen3/8b-q4_K_M/${OLLAMA_REV}`;
  const ROLE_ARN = (name: string): string => `arn:aws:iam::123456789012:role/${name}-7f3a`;
  /** A stack file's config with the mirror on and a pinned revision. */
  const mirrored = (stack: "lab" | "dev", revision: string): Record<string, string> => ({
    ...stackFileConfig(stack),
    "qwen3-serve:modelRevision": revision,
    "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["198.51.100.0/24"], weightsCache: "s3" }),
  });
  /** The context with a fake SSM lookup: the bucket's name in us-east-1, none elsewhere; records the regions asked. */
  const asked: string[] = [];
  const mirrorCtx = (stack: string, published: string | null = BUCKET): StackContext => ({
    ...ctx(stack),
    weightsBucket: async (region) => {
      asked.push(region);
      return region === "us-east-1" ? published : null;
    },
  });
  const policyOf = (name: string): unknown =>
    JSON.parse(String(ofType("aws:iam/rolePolicy:RolePolicy").find((r) => r.name === name)?.inputs.policy));
  /** The WEIGHTS_MIRROR* lines of the bootstrap env file in a cloud-init (the scripts mention the names too). */
  const envOf = (userData: string): Record<string, string> => {
    const file = userData.split("\n  - path: ").find((f) => f.startsWith("/etc/qwen3-serve/bootstrap.env")) ?? "";
    return Object.fromEntries(
      [...file.matchAll(/^\s*(WEIGHTS_MIRROR\w*)=(.*)$/gm)].map((m) => [
        m[1] ?? "",
        (m[2] ?? "").replace(/^'|'$/g, ""),
      ]),
    );
  };

  it("vLLM (streams): the instance role's weights policy is exactly read, seed and mark-used on its prefix plus AssumeRole on the reader", async () => {
    await useMocks();
    asked.length = 0;
    await resolveAll(
      await deployStack(parseStackConfig(decodeConfigValues(mirrored("lab", HF_REV))), mirrorCtx("mirror-lab")),
    );
    assert.deepEqual(asked, ["us-east-1"]);
    // A single machine keeps its compile cache on its disk: no statement names the mirror's v1/cache/.
    for (const p of ofType("aws:iam/rolePolicy:RolePolicy")) assert.ok(!String(p.inputs.policy).includes("v1/cache"));
    assert.deepEqual(policyOf("mirror-lab-weights"), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "ListOwnModel",
          Effect: "Allow",
          Action: "s3:ListBucket",
          Resource: `arn:aws:s3:::${BUCKET}`,
          Condition: { StringLike: { "s3:prefix": [`${HF_PREFIX}/*`] } },
        },
        {
          Sid: "ReadOwnModel",
          Effect: "Allow",
          Action: "s3:GetObject",
          Resource: [`arn:aws:s3:::${BUCKET}/${HF_PREFIX}/*`],
        },
        {
          Sid: "SeedOwnModel",
          Effect: "Allow",
          Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
          Resource: [`arn:aws:s3:::${BUCKET}/${HF_PREFIX}/*`],
        },
        {
          Sid: "MarkModelUsed",
          Effect: "Allow",
          Action: "s3:PutObject",
          Resource: [`arn:aws:s3:::${BUCKET}/v1/used/qwen3-serve.mirror-lab/286172257a94779f.json`],
        },
        {
          Sid: "AssumeWeightsReader",
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Resource: ROLE_ARN("mirror-lab-weights-read"),
        },
      ],
    });
  });

  it("vLLM: the weights-read role trusts only the instance role and may only list and get its model", async () => {
    await useMocks();
    await resolveAll(
      await deployStack(parseStackConfig(decodeConfigValues(mirrored("lab", HF_REV))), mirrorCtx("mirror-lab")),
    );
    const reader = ofType("aws:iam/role:Role").find((r) => r.name === "mirror-lab-weights-read");
    assert.deepEqual(JSON.parse(String(reader?.inputs.assumeRolePolicy)), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "InstanceRoleOnly",
          Effect: "Allow",
          Principal: { AWS: ROLE_ARN("mirror-lab-role") },
          Action: "sts:AssumeRole",
        },
      ],
    });
    const readerPolicies = ofType("aws:iam/rolePolicy:RolePolicy").filter(
      (r) => r.inputs.role === "mirror-lab-weights-read-7f3a",
    );
    assert.equal(readerPolicies.length, 1);
    assert.deepEqual(policyOf("mirror-lab-weights-read"), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "ListOwnModel",
          Effect: "Allow",
          Action: "s3:ListBucket",
          Resource: `arn:aws:s3:::${BUCKET}`,
          Condition: { StringLike: { "s3:prefix": [`${HF_PREFIX}/*`] } },
        },
        {
          Sid: "ReadOwnModel",
          Effect: "Allow",
          Action: "s3:GetObject",
          Resource: [`arn:aws:s3:::${BUCKET}/${HF_PREFIX}/*`],
        },
      ],
    });
  });

  it(
    "vLLM: every launch template's user data carries the WEIGHTS_MIRROR_* settings, streaming " +
      "with the reader role, and an empty compile-cache key (a single machine shares none)",
    async () => {
      await useMocks();
      await resolveAll(
        await deployStack(parseStackConfig(decodeConfigValues(mirrored("lab", HF_REV))), mirrorCtx("mirror-lab")),
      );
      const templates = ofType(LT);
      assert.ok(templates.length >= 1);
      for (const lt of templates) {
        assert.deepEqual(envOf(userDataOf(lt.inputs)), {
          WEIGHTS_MIRROR: "s3",
          WEIGHTS_MIRROR_BUCKET: BUCKET,
          WEIGHTS_MIRROR_REGION: "us-east-1",
          WEIGHTS_MIRROR_PREFIX: HF_PREFIX,
          WEIGHTS_MIRROR_STREAM: "1",
          WEIGHTS_MIRROR_READ_ROLE_ARN: ROLE_ARN("mirror-lab-weights-read"),
          WEIGHTS_MIRROR_USED_KEY: "v1/used/qwen3-serve.mirror-lab/286172257a94779f.json",
          WEIGHTS_MIRROR_CACHE_KEY: "",
        });
      }
    },
  );

  it("Ollama (copies, no streaming): read and seed also cover v1/ollama/blobs/*; no reader role, no AssumeRole; STREAM empty", async () => {
    await useMocks();
    await resolveAll(
      await deployStack(parseStackConfig(decodeConfigValues(mirrored("dev", OLLAMA_REV))), mirrorCtx("mirror-dev")),
    );
    const objects = [`arn:aws:s3:::${BUCKET}/${OLLAMA_PREFIX}/*`, `arn:aws:s3:::${BUCKET}/v1/ollama/blobs/*`];
    assert.deepEqual(policyOf("mirror-dev-weights"), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "ListOwnModel",
          Effect: "Allow",
          Action: "s3:ListBucket",
          Resource: `arn:aws:s3:::${BUCKET}`,
          Condition: { StringLike: { "s3:prefix": [`${OLLAMA_PREFIX}/*`] } },
        },
        { Sid: "ReadOwnModel", Effect: "Allow", Action: "s3:GetObject", Resource: objects },
        {
          Sid: "SeedOwnModel",
          Effect: "Allow",
          Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
          Resource: objects,
        },
        {
          Sid: "MarkModelUsed",
          Effect: "Allow",
          Action: "s3:PutObject",
          Resource: [`arn:aws:s3:::${BUCKET}/v1/used/qwen3-serve.mirror-dev/170d0b6cb3345527.json`],
        },
      ],
    });
    assert.deepEqual(
      ofType("aws:iam/role:Role").map((r) => r.name),
      ["mirror-dev-role"],
    );
    const env = envOf(userDataOf(ofType(LT)[0]?.inputs ?? {}));
    assert.equal(env.WEIGHTS_MIRROR_STREAM, "");
    assert.equal(env.WEIGHTS_MIRROR_READ_ROLE_ARN, "");
    assert.equal(env.WEIGHTS_MIRROR_PREFIX, OLLAMA_PREFIX);
  });

  it("no bucket parameter in the region: a UserError naming aws.weightsCache, s3, the npm run shared command and the choices; nothing declared", async () => {
    await useMocks();
    await assert.rejects(
      (async () =>
        deployStack(parseStackConfig(decodeConfigValues(mirrored("lab", HF_REV))), mirrorCtx("mirror-none", null)))(),
      (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.equal(
          e.message,
          'aws.weightsCache = "s3": us-east-1 has no weights mirror yet (no SSM parameter /qwen3-serve/shared/weights-bucket).\n' +
            "Create it once per account and region with `npm run shared -- up --region us-east-1`, or set aws.weightsCache: off.\n" +
            "Valid choices: off, s3",
        );
        return true;
      },
    );
    await settle();
    assert.deepEqual(recorded, [], "no resource was declared");
  });

  it("mirror off (the example stacks): no bucket lookup, no weights policy, no reader role, no WEIGHTS_MIRROR in user data", async () => {
    for (const stack of ["dev", "lab"]) {
      await useMocks();
      asked.length = 0;
      await resolveAll(
        await deployStack(parseStackConfig(decodeConfigValues(stackFileConfig(stack))), mirrorCtx(stack)),
      );
      assert.deepEqual(asked, []);
      assert.deepEqual(
        ofType("aws:iam/rolePolicy:RolePolicy").map((r) => r.name),
        [`${stack}-instance`],
      );
      assert.deepEqual(
        ofType("aws:iam/role:Role").map((r) => r.name),
        [`${stack}-role`],
      );
      for (const lt of ofType(LT)) {
        assert.match(userDataOf(lt.inputs), /\n {2}- path: \/etc\/qwen3-serve\/bootstrap\.env\n/);
        assert.deepEqual(envOf(userDataOf(lt.inputs)), {});
      }
    }
  });
});
