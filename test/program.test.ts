/**
 * The Pulumi program as `pulumi up` loads it: a child process registers ts-node exactly as
 * @pulumi/pulumi's run harness does (its vendored ts-node with the project's TypeScript and
 * tsconfig, type-checking on), installs Pulumi mocks, passes a stack file's config through
 * PULUMI_CONFIG as the CLI would, and runs index.ts's exported program. Proves the program
 * compiles under Pulumi's loader, reads its config, and reports config mistakes as one line.
 * ("myip" is replaced by a fixed CIDR: these machines cannot reach checkip.amazonaws.com.)
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { stackFileConfig, stackNames, stackTarget } from "./helpers/stacks";

const ROOT = path.resolve(__dirname, "..");

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
  "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": () => ({ locations: ["us-east-1a"] }),
  "aws:ssm/getParameter:getParameter": () => ({ insecureValue: "ami-0mock" }),
  "aws:index/getRegion:getRegion": () => ({ region: "us-east-1" }),
};
pulumi.runtime.setMocks({
  newResource: (a) => ({ id: a.name + "-id", state: { ...a.inputs, publicIp: "203.0.113.10", result: "k".repeat(48), arn: "arn:aws:ssm:us-east-1:1:parameter/x" } }),
  call: (a) => { const f = invokes[a.token]; if (!f) throw new Error("unhandled invoke " + a.token); return f(a.inputs); },
}, "qwen3-serve", process.env.STACK, false).then(async () => {
  const main = require(process.cwd() + "/index.ts");
  try {
    const out = await main();
    const value = (o) => new Promise((r) => o.apply(r));
    process.stdout.write(JSON.stringify({ tsnode: tsnodeRequire, endpoint: await value(out.endpoint), modelName: await value(out.modelName), instanceType: await value(out.instanceType), awsRegion: out.awsRegion === undefined ? null : await value(out.awsRegion) }));
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: e.constructor.name, message: e.message }));
  }
});
`;

function loadProgram(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["-e", LOADER],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          STACK: stack,
          PULUMI_CONFIG: JSON.stringify(config),
          PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(secretKeys),
        },
        encoding: "utf8",
        timeout: 120_000,
      },
      (err, stdout, stderr) =>
        err !== null
          ? reject(new Error(`${err.message}\n${stderr}`))
          : resolve(JSON.parse(stdout) as Record<string, string>),
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

describe("index.ts under Pulumi's TypeScript loader", { concurrency: true }, () => {
  // Where each target's endpoint points: the instance's public IP, or the host the stack file names.
  const endpoints: Record<string, string> = {
    aws: "http://203.0.113.10:8080/v1",
    workstation: "http://192.0.2.10:8080/v1",
    docker: "http://192.0.2.20:8080/v1",
  };
  for (const stack of stackNames()) {
    it(`${stack}: compiles with Pulumi's ts-node, reads the stack config, exports the endpoint (and awsRegion on AWS)`, async () => {
      // The workstation stack's SSH key is set with --secret by its user; the CLI says so in PULUMI_CONFIG_SECRET_KEYS.
      const ssh: Record<string, string> =
        stackTarget(stack) === "workstation"
          ? {
              "qwen3-serve:sshPrivateKey":
                "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
            }
          : {};
      const r = await loadProgram(stack, { ...withoutMyIp(stackFileConfig(stack)), ...ssh }, Object.keys(ssh));
      assert.equal(r.error, undefined, r.message);
      assert.match(r.tsnode ?? "", /vendor\/ts-node@7\.0\.1$/, "the same ts-node pulumi up uses");
      assert.equal(r.endpoint, endpoints[stackTarget(stack)]);
      assert.ok((r.instanceType ?? "").length > 0);
      assert.equal(r.awsRegion, stackTarget(stack) === "aws" ? "us-east-1" : null);
    });
  }

  it("refuses a workstation SSH key set without --secret", async () => {
    const r = await loadProgram("workstation", {
      ...stackFileConfig("workstation"),
      "qwen3-serve:sshPrivateKey": "plain",
    });
    assert.equal(r.error, "RunError");
    assert.match(
      r.message ?? "",
      /^qwen3-serve:sshPrivateKey = "\(plain text\)": the SSH private key is stored in plain text in the stack file\.\nSet it with `pulumi config set --secret qwen3-serve:sshPrivateKey < ~\/\.ssh\/id_ed25519`\.$/,
    );
  });

  it("a config mistake surfaces as a RunError naming the qwen3-serve key, with no stack trace", async () => {
    const r = await loadProgram("dev", { ...withoutMyIp(stackFileConfig("dev")), "qwen3-serve:engin": "vllm" });
    assert.equal(r.error, "RunError");
    assert.match(r.message ?? "", /^qwen3-serve:engin = "engin": unknown setting\.\n/);
  });
});
