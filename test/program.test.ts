/**
 * The Pulumi program, index.ts, end to end from config to stack outputs, in two parts:
 *
 * 1. Under Pulumi's own TypeScript loader, once (one child process; compiling under ts-node is the
 *    slow part): a child registers ts-node exactly as @pulumi/pulumi's run harness does (its vendored
 *    ts-node with the project's TypeScript and tsconfig, type-checking on), installs Pulumi mocks,
 *    passes config through PULUMI_CONFIG as the CLI would, and runs index.ts's exported program for
 *    the AWS example stack (dev), then for two config mistakes. Proves that index.ts and every module
 *    it loads compile under that loader (the target registry loads all three targets, so one stack
 *    compiles them all), that the program reads its config, and that mistakes surface as one-line
 *    RunErrors naming the qwen3-serve key.
 * 2. In this process, under the plain mocks the component tests use: index.ts's exported program for
 *    every example stack file, each exporting its target's endpoint, instance type, and awsRegion on
 *    AWS only. Proves each stack file's config is read, validated and deployed through the program.
 *
 * ("myip" is replaced by a fixed CIDR: these machines cannot reach checkip.amazonaws.com. A stack file with
 * `aws.weightsCache: s3` (team) reads its bucket's name through the real SDK from a loopback fake of the SSM API.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import main = require("../index");
import { decodeConfigValues, parseStackConfig, TARGET_NAMES } from "../components/config/schema";
import { UserError } from "../components/errors/userError";
import { deployStack, type StackContext } from "../components/program/deploy";
import { NothingFitsError, type Plan } from "../components/sizing/plan";
import { TARGETS } from "../components/targets/registry";
import { MOCK_ELASTIC_IP, recorded, resolveAll, useMocks, outputValue } from "./helpers/pulumiMocks";
import { isFleetStack, stackFileConfig, stackNames, stackTarget } from "./helpers/stacks";

const ROOT = path.resolve(__dirname, "..");

/** One run of the program in the loader's process: the config the CLI would pass, and which keys it marks secret. */
interface LoaderRun {
  readonly config: Record<string, string>;
  readonly secretKeys: readonly string[];
}

/** What one run returned: the outputs read, or the error's class and message. */
interface LoaderResult {
  readonly tsnode?: string;
  readonly endpoint?: string;
  readonly instanceType?: string;
  readonly awsRegion?: string | null;
  readonly error?: string;
  readonly message?: string;
}

// Runs index.ts's program once per entry of RUNS, in order, in one process: ts-node compiles it
// once, and each run sets the config (and the secret keys index.ts reads from its environment)
// the way the language host would before a program starts.
const LOADER = `
const tsutils = require("@pulumi/pulumi/tsutils.js");
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const compilerOptions = tsutils.loadTypeScriptCompilerOptions("tsconfig.json");
require(tsnodeRequire).register({
  compiler: typescriptRequire, project: "tsconfig.json", skipProject: false,
  compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...compilerOptions },
});
const pulumi = require("@pulumi/pulumi");
const invokes = {
  "aws:ec2/getVpc:getVpc": () => ({ id: "vpc-0default" }),
  "aws:ec2/getSubnets:getSubnets": () => ({ ids: ["subnet-0aaaaaaaaaaaaaaaa"] }),
  "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (i) =>
    ({ instanceTypes: i.filters[0].values, locations: i.filters[0].values.map(() => "us-east-1a") }),
  "aws:ec2/getAmi:getAmi": () => ({ rootDeviceName: "/dev/sda1" }),
  "aws:ec2/getInstances:getInstances": () => ({ ids: [] }),
  "aws:ec2/getInstance:getInstance": () => ({ availabilityZone: "us-east-1a", ami: "ami-0mock", rootBlockDevices: [{ volumeId: "vol-0" }], tags: {} }),
  "aws:ssm/getParameter:getParameter": () => ({ insecureValue: "ami-0mock" }),
  "aws:index/getRegion:getRegion": () => ({ region: "us-east-1" }),
};
pulumi.runtime.setMocks({
  newResource: (a) => ({
    id: a.name + "-id",
    state: { ...a.inputs, publicIp: "203.0.113.10", result: "k".repeat(48), arn: "arn:aws:ssm:us-east-1:1:parameter/x", latestVersion: 1,
      // An instant fleet launches its first override.
      ...(a.type === "aws:ec2/fleet:Fleet" ? { fleetInstanceSets: [{ instanceIds: ["i-0" + a.name],
        instanceType: a.inputs.launchTemplateConfigs[0].overrides[0].instanceType, lifecycle: "on-demand" }] } : {}) },
  }),
  call: (a) => { const f = invokes[a.token]; if (!f) throw new Error("unhandled invoke " + a.token); return f(a.inputs); },
}, "qwen3-serve", "dev", false).then(async () => {
  const main = require(process.cwd() + "/index.ts");
  const value = (o) => new Promise((r) => o.apply(r));
  const results = [];
  for (const run of JSON.parse(process.env.RUNS)) {
    pulumi.runtime.setAllConfig(run.config, run.secretKeys);
    process.env.PULUMI_CONFIG_SECRET_KEYS = JSON.stringify(run.secretKeys);
    try {
      const out = await main();
      const awsRegion = out.awsRegion === undefined ? null : await value(out.awsRegion);
      results.push({ tsnode: tsnodeRequire, endpoint: await value(out.endpoint), instanceType: await value(out.instanceType), awsRegion });
    } catch (e) {
      results.push({ error: e.constructor.name, message: e.message });
    }
  }
  process.stdout.write(JSON.stringify(results));
});
`;

/** Run index.ts under Pulumi's TypeScript loader, once per run, in one child process. */
function loadProgram(runs: readonly LoaderRun[]): Promise<LoaderResult[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["-e", LOADER],
      { cwd: ROOT, env: { ...process.env, RUNS: JSON.stringify(runs) }, encoding: "utf8", timeout: 120_000 },
      (err, stdout, stderr) =>
        err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as LoaderResult[]),
    );
  });
}

const withoutMyIp = (config: Record<string, string>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(config).map(([k, v]) => [
      k,
      k === "qwen3-serve:aws" ? v.replace(/"myip"/g, '"198.51.100.0/24"') : v,
    ]),
  );

/** A workstation's SSH key, which its user sets with --secret. */
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n";

/** A stack file's config as the CLI passes it, with the SSH key a workstation stack's user adds (and its secret keys). */
function cliConfig(stack: string): LoaderRun {
  const ssh: Record<string, string> =
    stackTarget(stack) === "workstation" ? { "qwen3-serve:sshPrivateKey": SSH_KEY } : {};
  return { config: { ...withoutMyIp(stackFileConfig(stack)), ...ssh }, secretKeys: Object.keys(ssh) };
}

describe("index.ts under Pulumi's TypeScript loader (the AWS example stack, then two config mistakes)", () => {
  let results: LoaderResult[];

  before(async () => {
    results = await loadProgram([
      cliConfig("dev"),
      { config: { ...stackFileConfig("workstation"), "qwen3-serve:sshPrivateKey": "plain" }, secretKeys: [] },
      { config: { ...withoutMyIp(stackFileConfig("dev")), "qwen3-serve:engin": "vllm" }, secretKeys: [] },
    ]);
  });

  it("dev: compiles with Pulumi's ts-node, reads the stack config, exports the endpoint and awsRegion", () => {
    const r = results[0];
    assert.equal(r?.error, undefined, r?.message);
    assert.match(r?.tsnode ?? "", /vendor\/ts-node@7\.0\.1$/, "the same ts-node pulumi up uses");
    assert.equal(r?.endpoint, "http://203.0.113.10:8080/v1");
    assert.equal(r?.instanceType, "g4dn.xlarge");
    assert.equal(r?.awsRegion, "us-east-1");
  });

  it("refuses a workstation SSH key set without --secret", () => {
    assert.equal(results[1]?.error, "RunError");
    assert.match(
      results[1]?.message ?? "",
      new RegExp(
        /^qwen3-serve:sshPrivateKey = "\(plain text\)": the SSH private key is stored in plain text in the stack file\.\n/
          .source +
          /Set it with `pulumi config set --secret qwen3-serve:sshPrivateKey < ~\/\.ssh\/id_ed25519`\.$/.source,
      ),
    );
  });

  it("a config mistake surfaces as a RunError naming the qwen3-serve key, with no stack trace", () => {
    assert.equal(results[2]?.error, "RunError");
    assert.match(results[2]?.message ?? "", /^qwen3-serve:engin = "engin": unknown setting\.\n/);
  });
});

/** The shared weights bucket's name, as the fake SSM API publishes it. */
const MIRROR_BUCKET = "qwen3-serve-weights-5f3a9c0e1d2b";
/** The SSM parameter the shared stack publishes the bucket's name in. */
const BUCKET_PARAMETER = "/qwen3-serve/shared/weights-bucket";

/**
 * A loopback fake of SSM's GetParameter as the SDK calls it (JSON 1.1: POST / with `X-Amz-Target:
 * AmazonSSM.GetParameter` and `{"Name": ...}`), answering as SSM does: `{"Parameter": {Name, Type, Value, Version,
 * ARN, DataType, LastModifiedDate}}`, or HTTP 400 `{"__type": "ParameterNotFound"}` for any other name
 * (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html, and the response syntax of
 * https://boto3.amazonaws.com/v1/documentation/api/1.34.91/reference/services/ssm/client/get_parameter.html, read
 * 2026-11-30). Records each request's target and body.
 */
function fakeSsm(): { server: http.Server; requests: { target: string; body: unknown }[] } {
  const requests: { target: string; body: unknown }[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => {
      text += c.toString("utf8");
    });
    req.on("end", () => {
      const body = JSON.parse(text) as { Name?: string };
      requests.push({ target: String(req.headers["x-amz-target"]), body });
      res.setHeader("content-type", "application/x-amz-json-1.1");
      if (req.headers["x-amz-target"] !== "AmazonSSM.GetParameter" || body.Name !== BUCKET_PARAMETER) {
        res.writeHead(400);
        res.end(JSON.stringify({ __type: "ParameterNotFound", message: "" }));
        return;
      }
      res.writeHead(200);
      res.end(
        JSON.stringify({
          Parameter: {
            Name: BUCKET_PARAMETER,
            Type: "String",
            Value: MIRROR_BUCKET,
            Version: 1,
            ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${BUCKET_PARAMETER}`,
            DataType: "text",
            LastModifiedDate: 1796000000,
          },
        }),
      );
    });
  });
  return { server, requests };
}

describe("index.ts in this process under plain mocks, for every example stack", () => {
  // The real SDK, pointed at the fake with AWS_ENDPOINT_URL_SSM and dummy credentials, for the stacks on the mirror.
  const ssm = fakeSsm();
  const SSM_ENV = ["AWS_ENDPOINT_URL_SSM", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_MAX_ATTEMPTS"] as const;
  const savedEnv = Object.fromEntries(SSM_ENV.map((k) => [k, process.env[k]]));
  before(async () => {
    await new Promise<void>((r) => ssm.server.listen(0, "127.0.0.1", r));
    process.env.AWS_ENDPOINT_URL_SSM = `http://127.0.0.1:${(ssm.server.address() as AddressInfo).port}`;
    process.env.AWS_ACCESS_KEY_ID = "AKIAEXAMPLEFAKE";
    process.env.AWS_SECRET_ACCESS_KEY = "fake";
    process.env.AWS_MAX_ATTEMPTS = "1";
  });
  after(() => {
    for (const k of SSM_ENV) {
      const v = savedEnv[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    ssm.server.close();
  });
  // The stack files that set aws.weightsCache: s3, so the program reads the bucket's SSM parameter first.
  const mirrored = new Set(["team"]);

  // Where each stack's endpoint points: the Elastic IP on AWS, or the host the stack file names.
  const endpoints: Record<string, string> = {
    aws: `http://${MOCK_ELASTIC_IP}:8080/v1`,
    workstation: "http://192.0.2.10:8080/v1",
    docker: "http://192.0.2.20:8080/v1",
  };

  // The plan output's speed estimate per stack: the objective it was ranked by and tokens/s per sequence.
  // dev ranks by price (its stack file says why); a given machine (docker, workstation) has nothing to rank.
  const speeds: Record<string, [string, number]> = {
    dev: ["cost", 24.3],
    docker: ["cost", 25],
    lab: ["cost-per-token", 43.3],
    prod: ["cost-per-token", 22.5],
    team: ["cost-per-token", 35.9],
    workstation: ["cost", 87.5],
  };

  for (const stack of stackNames()) {
    const reads = mirrored.has(stack) ? "reads the mirror bucket's SSM parameter once" : "reads no SSM parameter";
    it(`${stack}: exports its target's endpoint, instance type, awsRegion on AWS only, and the plan's speed estimate; ${reads}`, async () => {
      await useMocks();
      ssm.requests.length = 0;
      const { config, secretKeys } = cliConfig(stack);
      pulumi.runtime.setAllConfig(config, [...secretKeys]);
      const before = process.env.PULUMI_CONFIG_SECRET_KEYS;
      process.env.PULUMI_CONFIG_SECRET_KEYS = JSON.stringify(secretKeys);
      try {
        const out = await main();
        await resolveAll(out);
        // A fleet's endpoint is its load balancer's DNS name (the mock's), not a machine's address.
        const fleetEndpoint = "http://test-alb-1234567890.us-east-1.elb.amazonaws.com/v1";
        assert.equal(
          await outputValue(out.endpoint),
          isFleetStack(stack) ? fleetEndpoint : endpoints[stackTarget(stack)],
        );
        assert.ok((await outputValue(out.instanceType)).length > 0);
        assert.equal(
          out.awsRegion === undefined ? null : await outputValue(out.awsRegion),
          stackTarget(stack) === "aws" ? "us-east-1" : null,
        );
        const plan = (await outputValue(pulumi.output(out.plan))) as Plan;
        assert.equal(plan.performance.kind, "estimate");
        assert.deepEqual([plan.performance.objective, plan.performance.tokensPerSecondPerSequence], speeds[stack]);
        assert.deepEqual(
          ssm.requests,
          mirrored.has(stack) ? [{ target: "AmazonSSM.GetParameter", body: { Name: BUCKET_PARAMETER } }] : [],
        );
      } finally {
        if (before === undefined) delete process.env.PULUMI_CONFIG_SECRET_KEYS;
        else process.env.PULUMI_CONFIG_SECRET_KEYS = before;
      }
    });
  }
});

describe("the target registry", () => {
  const ctx = (myIp: string): StackContext => ({
    project: "qwen3-serve",
    stack: "reg",
    defaultOwner: "tester",
    myIp: async () => myIp,
    isSecret: () => true,
  });

  it("holds one module, with plan and declare, for each target name the config accepts", () => {
    assert.deepEqual(Object.keys(TARGETS).sort(), ["aws", "docker", "workstation"]);
    assert.deepEqual([...TARGET_NAMES].sort(), ["aws", "docker", "workstation"]);
    for (const t of Object.values(TARGETS)) {
      assert.equal(typeof t.plan, "function");
      assert.equal(typeof t.declare, "function");
    }
  });

  it('a "myip" lookup that answers no IPv4 address is a UserError naming aws.allowedCidrs, with nothing declared', async () => {
    await useMocks();
    const config = parseStackConfig(decodeConfigValues(stackFileConfig("dev")));
    await assert.rejects(
      deployStack(config, ctx("<html>rate limited</html>")),
      (e: unknown) => e instanceof UserError && e.key === "aws.allowedCidrs" && e.value === "myip",
    );
    assert.deepEqual(recorded, []);
  });

  it("a Docker daemon address no URL parser reads is a UserError naming docker.host, with nothing declared", async () => {
    await useMocks();
    const config = parseStackConfig(
      decodeConfigValues({
        ...stackFileConfig("docker"),
        "qwen3-serve:docker": JSON.stringify({
          host: "tcp://[not-an-address",
          gpus: { model: "RTX-4090", count: 1 },
          bindAddress: "0.0.0.0",
        }),
      }),
    );
    await assert.rejects(
      deployStack(config, ctx("198.51.100.77")),
      (e: unknown) => e instanceof UserError && e.key === "docker.host",
    );
    assert.deepEqual(recorded, []);
  });

  it("a model the Docker host's GPUs cannot hold stays a NothingFitsError, relabelled docker.gpus, with the machine as `largest`", async () => {
    await useMocks();
    const config = parseStackConfig(
      decodeConfigValues({
        ...stackFileConfig("docker"),
        "qwen3-serve:model": "Qwen3-235B-A22B",
        "qwen3-serve:engine": "vllm",
        "qwen3-serve:docker": JSON.stringify({ gpus: { model: "RTX-4090", count: 2 } }),
      }),
    );
    await assert.rejects(deployStack(config, ctx("198.51.100.77")), (e: unknown) => {
      assert.ok(e instanceof NothingFitsError);
      assert.equal(e.key, "docker.gpus");
      assert.equal(e.largest?.gpu, "RTX-4090");
      assert.equal(e.largest?.gpuCount, 2);
      return true;
    });
    assert.deepEqual(recorded, []);
  });
});
