/**
 * The component package as another Pulumi program gets it: `npm pack` of this repository, the
 * tarball unpacked as npm installs it into a project under the OS temp folder (outside this
 * repository), and the README's "Use it from your own Pulumi program" example, compiled to
 * JavaScript, run there under Pulumi mocks as a child process whose working folder is that
 * project. Proves the package exports what the example imports, ships the files its code reads at
 * run time, and that its command steps name their scripts by absolute path inside the installed
 * package, so they run from any working folder.
 *
 * Speed: the package's dependencies are linked from this repository's node_modules instead of
 * extracted again (a real install unpacks about 250 MB); only the ones package.json declares are
 * linked, so a module the package needs but does not declare still fails. dist/ is rebuilt only
 * when a source is newer than it (npm ci already built it through `prepare`).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import ts from "typescript";

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");

/** Modification times of the files under a folder, caches left out. */
function mtimes(dir: string): number[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === "__pycache__") return [];
    const p = path.join(dir, name);
    const s = statSync(p);
    return s.isDirectory() ? mtimes(p) : [s.mtimeMs];
  });
}

/** Whether dist/ is missing or older than anything the build reads. */
function distIsStale(): boolean {
  if (!existsSync(path.join(DIST, "components", "index.js"))) return true;
  const inputs = [
    ...mtimes(path.join(ROOT, "components")),
    ...["scripts/build.ts", "scripts/wait-ready.ts", "scripts/wait-terminated.ts"].map(
      (f) => statSync(path.join(ROOT, f)).mtimeMs,
    ),
    ...["tsconfig.json", "tsconfig.build.json", "package.json"].map((f) => statSync(path.join(ROOT, f)).mtimeMs),
  ];
  return Math.max(...inputs) >= Math.min(...mtimes(DIST));
}

/** The README example, compiled as Pulumi's loader would (CommonJS). */
function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.split("\n## Use it from your own Pulumi program\n")[1]?.split("\n## ")[0] ?? "";
  const source = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(source !== undefined, "no ```ts example in the README's package section");
  return ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
}

/**
 * The harness beside the example: Pulumi mocks that record every resource and throw on any invoke
 * they do not answer (as test/helpers/pulumiMocks.ts does), then the example, then a spot server
 * terminated on idle, all through the package's public exports.
 */
const HARNESS = `"use strict";
const pulumi = require("@pulumi/pulumi");
const resources = [];
const invokes = {
  "aws:ec2/getVpc:getVpc": () => ({ id: "vpc-0default", cidrBlock: "172.31.0.0/16" }),
  "aws:ec2/getSubnets:getSubnets": () => ({ id: "subnets", ids: ["subnet-0aaaaaaaaaaaaaaaa"] }),
  "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (i) => {
    const types = i.filters[0].values;
    return { id: "o", instanceTypes: types, locations: types.map(() => "us-east-1a"), locationTypes: types.map(() => "availability-zone") };
  },
  "aws:ec2/getAmi:getAmi": () => ({ id: "ami-0mockdlami000000", rootDeviceName: "/dev/sda1" }),
  "aws:ec2/getInstances:getInstances": () => ({ id: "instances", ids: [] }),
  "aws:ec2/getInstance:getInstance": (i) =>
    ({ id: i.instanceId, instanceId: i.instanceId, availabilityZone: "us-east-1a", ami: "ami-0mockdlami000000",
       rootBlockDevices: [{ volumeId: "vol-0" }], tags: {} }),
  "aws:ssm/getParameter:getParameter": (i) =>
    ({ id: i.name, name: i.name, value: "ami-0mockdlami000000", insecureValue: "ami-0mockdlami000000", type: "String" }),
  "aws:index/getRegion:getRegion": () => ({ id: "us-east-1", name: "us-east-1", region: "us-east-1" }),
};
function state(type, name, inputs) {
  switch (type) {
    case "random:index/randomPassword:RandomPassword": return { ...inputs, result: "MOCKKEY0123456789abcdefghijklmnopqrstuvwxyzABCD" };
    case "aws:ssm/parameter:Parameter": return { ...inputs, arn: "arn:aws:ssm:us-east-1:123456789012:parameter" + inputs.name };
    case "aws:iam/role:Role": return { ...inputs, name: name + "-role", arn: "arn:aws:iam::123456789012:role/" + name };
    case "aws:iam/instanceProfile:InstanceProfile": return { ...inputs, name: name + "-profile" };
    case "aws:ec2/launchTemplate:LaunchTemplate": return { ...inputs, latestVersion: 1 };
    case "aws:ec2/fleet:Fleet": {
      // The first override launches (test/helpers/pulumiMocks.ts models priorities; this harness needs one instance).
      const o = inputs.launchTemplateConfigs[0].overrides[0];
      const lifecycle = inputs.targetCapacitySpecification.defaultTargetCapacityType;
      return { ...inputs, fleetInstanceSets: [{ instanceIds: ["i-0" + name], instanceType: o.instanceType, lifecycle }] };
    }
    case "aws:ec2/eip:Eip": return { ...inputs, publicIp: "203.0.113.99", allocationId: "eipalloc-0" + name };
    case "command:local:Command": return { ...inputs, stdout: "ready", stderr: "" };
    default: return inputs;
  }
}
pulumi.runtime.setMocks({
  newResource(a) {
    resources.push({ type: a.type, name: a.name, inputs: a.inputs });
    return { id: a.name + "-id", state: state(a.type, a.name, a.inputs) };
  },
  call(a) {
    const f = invokes[a.token];
    if (f === undefined) throw new Error("mock: unhandled invoke " + a.token);
    return f(a.inputs);
  },
}, "consumer", "dev", false).then(async () => {
  const example = require("./index.js");
  const { buildPlan, GpuServer, parsePlanRequest } = require("qwen3-serve/components");
  new GpuServer("spot", {
    plan: buildPlan(parsePlanRequest({ model: "Qwen3-8B", engine: "vllm", spot: true })),
    amiFamily: "dlami-ubuntu-24.04", allowedCidrs: ["203.0.113.7/32"], private: false, proxyPort: 8080,
    rootVolume: { throughputMiBps: 500, iops: 3000, extraGiB: 0 }, shutdownBehavior: "terminate",
    idle: { minutes: 30, ttlHours: null, countSsh: false }, waitForReady: false,
  });
  const value = (o) => new Promise((r) => o.apply(r));
  const outputs = {};
  for (const [k, o] of Object.entries(example)) outputs[k] = await value(o);
  await new Promise((r) => setTimeout(r, 200));
  // The fleet waker's code as the installed package reads it at run time (a fleet with minReplicas 0 zips it).
  const dist = require("path").join(require("path").dirname(require.resolve("qwen3-serve/package.json")), "dist");
  const wakerCode = require(require("path").join(dist, "components", "targets", "fleetWaker.js")).wakerCode();
  process.stdout.write(JSON.stringify({ execPath: process.execPath, outputs, resources, wakerCode }));
});
`;

interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}
interface Run {
  readonly execPath: string;
  readonly outputs: Record<string, unknown>;
  readonly resources: Recorded[];
  readonly wakerCode: string;
}

/** Run a command line through /bin/sh (as command.local.Command does) in a working folder. */
function sh(command: string, cwd: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile("/bin/sh", ["-c", command], { cwd, env, timeout: 30_000 }, (err, _stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stderr }),
    );
  });
}

/** Split a command made of single-quoted words (what nodeScriptCommand writes) into its words. */
function words(command: string): string[] {
  const out = [...command.matchAll(/'((?:[^']|'\\'')*)'(?: |$)/g)].map((m) => (m[1] ?? "").replace(/'\\''/g, "'"));
  assert.equal(out.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" "), command, "not a list of single-quoted words");
  return out;
}

describe("the packed package, installed into a project outside this repository", () => {
  let tmp = "";
  let project = "";
  let installed = "";
  let run: Run;
  const ofType = (type: string): Recorded[] => run.resources.filter((r) => r.type === type);
  const commandNamed = (name: string): Recorded => {
    const r = ofType("command:local:Command").find((c) => c.name === name);
    assert.ok(r, `no command ${name}`);
    return r;
  };

  before(async () => {
    if (distIsStale())
      execFileSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], { cwd: ROOT, stdio: "pipe" });
    tmp = mkdtempSync(path.join(os.tmpdir(), "qwen3-serve-package-"));
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], {
        cwd: ROOT,
        encoding: "utf8",
      }),
    ) as { filename: string }[];
    const tarball = path.join(tmp, packed[0]?.filename ?? "");
    project = path.join(tmp, "consumer");
    installed = path.join(project, "node_modules", "qwen3-serve");
    mkdirSync(installed, { recursive: true });
    // npm's tarballs hold the package under package/; npm installs that folder as node_modules/<name>.
    execFileSync("tar", ["-xzf", tarball, "-C", installed, "--strip-components=1"]);
    const deps = (JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8")) as { dependencies: object })
      .dependencies;
    for (const dep of Object.keys(deps)) {
      mkdirSync(path.dirname(path.join(project, "node_modules", dep)), { recursive: true });
      symlinkSync(path.join(ROOT, "node_modules", dep), path.join(project, "node_modules", dep), "dir");
    }
    writeFileSync(
      path.join(project, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        dependencies: { "qwen3-serve": `file:../${packed[0]?.filename}` },
      }),
    );
    writeFileSync(path.join(project, "index.js"), readmeExample());
    writeFileSync(path.join(project, "harness.js"), HARNESS);
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["harness.js"],
        // No NODE_OPTIONS or other settings of this runner: the project runs as a user's would.
        { cwd: project, env: { PATH: process.env.PATH ?? "" }, encoding: "utf8", timeout: 60_000 },
        (err, out, errText) => (err === null ? resolve(out) : reject(new Error(`${err.message}\n${errText}`))),
      ),
    );
    run = JSON.parse(stdout) as Run;
  });
  after(() => {
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
  });

  it("the README example declares a qwen3-serve:aws:GpuServer: the planned g6e.xlarge, the given ingress, a readiness step and a destroy-time wait", () => {
    assert.deepEqual(
      ofType("qwen3-serve:aws:GpuServer").map((r) => r.name),
      ["qwen", "spot"],
    );
    const template = ofType("aws:ec2/launchTemplate:LaunchTemplate").find((r) => r.name === "qwen-lt-g6e-xlarge");
    assert.equal(template?.inputs.instanceType, "g6e.xlarge");
    const ingress = run.resources.filter(
      (r) => r.type.startsWith("aws:vpc/securityGroupIngressRule") && r.name.startsWith("qwen"),
    );
    assert.deepEqual(
      ingress.map((r) => [r.inputs.cidrIpv4, r.inputs.fromPort, r.inputs.toPort]),
      [["203.0.113.7/32", 8080, 8080]],
    );
    assert.deepEqual(
      ofType("command:local:Command")
        .map((r) => r.name)
        .sort(),
      ["qwen-ready", "qwen-terminated", "spot-terminated"],
    );
  });

  it("the instance's user data carries every machine script the sources have, read from the installed package", () => {
    const template = ofType("aws:ec2/launchTemplate:LaunchTemplate").find((r) => r.name === "qwen-lt-g6e-xlarge");
    const userData = gunzipSync(Buffer.from(String(template?.inputs.userData), "base64")).toString("utf8");
    const shipped = [...userData.matchAll(/^ {2}- path: \/usr\/local\/lib\/qwen3-serve\/(\S+)$/gm)].map((m) => m[1]);
    const machine = path.join(ROOT, "components", "machine");
    const sources = [
      ...readdirSync(machine).filter((f) => !f.endsWith(".ts") && statSync(path.join(machine, f)).isFile()),
      ...readdirSync(path.join(machine, "steps")).map((f) => `steps/${f}`),
    ]
      // The AWS target leaves idle.py to SSM parameters, ships uninstall.sh only to workstations, and the weights
      // mirror's scripts only with aws.weightsCache: s3 (then through SSM with idle.py; test/mirror.test.ts).
      .filter((f) => !["idle.py", "uninstall.sh", "mirror.py", "mirror.sh"].includes(f));
    assert.ok(sources.length >= 10, `${sources.length} machine files`);
    assert.deepEqual(
      sources.filter((f) => !shipped.includes(f)),
      [],
      "machine files missing from the user data",
    );
  });

  it("the fleet's waker.py ships in dist/components/fleet/ and the installed code reads it there, byte for byte the source", () => {
    const source = readFileSync(path.join(ROOT, "components", "fleet", "waker.py"), "utf8");
    assert.equal(readFileSync(path.join(installed, "dist", "components", "fleet", "waker.py"), "utf8"), source);
    assert.equal(run.wakerCode, source);
  });

  it("the README example's outputs: endpoint on the Elastic IP, model name, instance type, the API key", () => {
    assert.deepEqual(run.outputs, {
      endpoint: "http://203.0.113.99:8080/v1",
      modelName: "Qwen3-8B",
      instanceType: "g6e.xlarge",
      apiKey: "MOCKKEY0123456789abcdefghijklmnopqrstuvwxyzABCD",
    });
  });

  it("the readiness command names this Node and the installed package's compiled script by absolute path", () => {
    assert.deepEqual(words(String(commandNamed("qwen-ready").inputs.create)), [
      run.execPath,
      path.join(installed, "dist", "scripts", "wait-ready.js"),
    ]);
    assert.ok(existsSync(path.join(installed, "dist", "scripts", "wait-ready.js")));
  });

  it("the destroy-time wait's delete command names this Node and the installed package's compiled wait-terminated.js", () => {
    assert.deepEqual(words(String(commandNamed("qwen-terminated").inputs.delete)), [
      run.execPath,
      path.join(installed, "dist", "scripts", "wait-terminated.js"),
    ]);
    assert.ok(existsSync(path.join(installed, "dist", "scripts", "wait-terminated.js")));
  });

  it("the readiness command runs from another working folder: wait-ready refuses a missing setting (exit 2)", async () => {
    const elsewhere = mkdtempSync(path.join(tmp, "elsewhere-"));
    const ready = await sh(String(commandNamed("qwen-ready").inputs.create), elsewhere, {
      PATH: process.env.PATH ?? "",
    });
    assert.deepEqual(ready, { code: 2, stderr: "wait-ready: QS_BASE_URL is not set\n" });
  });
});

describe("this repository's own Pulumi program", () => {
  it("stays index.ts: package.json's exports have no '.' entry and main is index.ts", () => {
    // With no `main` in Pulumi.yaml, Pulumi's Node.js loader runs exports["."] when package.json has
    // one, and package.json's `main` only when it has no `exports` at all; exports without "." leave
    // the project folder, which require() opens through `main` (@pulumi/pulumi 3.248.0,
    // cmd/run/run.js, function run). A "." export of the library would make `pulumi up` run the
    // library, declare nothing, and delete the stack's resources.
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      main: string;
      exports: Record<string, unknown>;
    };
    const pulumiYaml = readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    assert.doesNotMatch(pulumiYaml, /^main:/m);
    assert.deepEqual(Object.keys(pkg.exports), ["./components", "./package.json"]);
    assert.equal(pkg.main, "index.ts");
    assert.equal(require.resolve(ROOT + path.sep), path.join(ROOT, "index.ts"));
  });
});
