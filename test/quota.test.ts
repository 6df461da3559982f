/**
 * The vCPU quota preflight: the catalog's family-to-quota map, the pure decision and its message, the
 * check in `pulumi up` under Pulumi mocks (the quota and the running instances answered by the mock
 * account in test/helpers/pulumiMocks.ts), and `npm run plan --check-quota` without credentials.
 *
 * What this proves: which quota we read, the arithmetic, that a shortfall stops the deployment before
 * anything is declared, and the message. It does not prove AWS's answers look like the mocks' (the
 * quota's value in a real account, the instances EC2 lists, the AccessDeniedException a real role gets).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, describe, it } from "node:test";
import { EC2_GPU_QUOTAS, FAMILY_QUOTAS, quotaForType } from "../components/catalog/quotas";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { UserError } from "../components/errors/userError";
import { deployStack, type StackContext } from "../components/program/deploy";
import { quotaCheckText, quotaNeed, quotaShortfall } from "../components/quota/rules";
import {
  account,
  ofType,
  outputValue,
  recorded,
  recordedCalls,
  resolveAll,
  settle,
  useMocks,
} from "./helpers/pulumiMocks";
import { stackFileConfig } from "./helpers/stacks";

const ROOT = path.resolve(__dirname, "..");

const ctx = (warnings: string[] = []): StackContext => ({
  project: "qwen3-serve",
  stack: "dev",
  defaultOwner: "tester",
  myIp: async () => "198.51.100.77",
  isSecret: () => true,
  warn: (m) => warnings.push(m),
});

/** The dev stack (g4dn.xlarge, 4 vCPUs, on-demand, us-east-1) with config overrides. */
const devConfig = (over: Record<string, string> = {}) =>
  parseStackConfig(decodeConfigValues({ ...stackFileConfig("dev"), ...over }));
const devAws = (aws: Record<string, unknown>): Record<string, string> => ({
  "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["myip"], ...aws }),
});

const quotaCalls = (): (string | undefined)[] =>
  recordedCalls.filter((c) => c.token === "aws:servicequotas/getServiceQuota:getServiceQuota").map((c) => c.quotaCode);
const INSTANCE_READS = new Set([
  "aws:ec2/getInstances:getInstances",
  "aws:ec2/getInstance:getInstance",
  "aws:ec2/getInstanceType:getInstanceType",
]);
/** The quota check's EC2 reads; the component's own (its generation lookup by tags, the launched instance) are left out. */
const ec2InstanceCalls = (): number =>
  recordedCalls.filter(
    (c) => INSTANCE_READS.has(c.token) && c.byTags !== true && !(c.instanceId ?? "").endsWith("-fleet"),
  ).length;

/** Deploy, expecting a UserError with exactly this message and no resource registered at all. */
async function refused(config: ReturnType<typeof devConfig>, message: string): Promise<void> {
  await assert.rejects(deployStack(config, ctx()), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.equal(e.message, message);
    return true;
  });
  await settle();
  assert.deepEqual(
    recorded.map((r) => r.type),
    [],
    "no resource (no component, provider, parameter or instance) was registered",
  );
}

/** Deploy and let it settle; returns the type of the instance the fleet launched (the mock launches the first choice). */
async function deployed(config: ReturnType<typeof devConfig>, warnings: string[] = []): Promise<string[]> {
  const out = await deployStack(config, ctx(warnings));
  await resolveAll(out);
  return ofType("aws:ec2/fleet:Fleet").length === 1 ? [await outputValue(out.instanceType)] : [];
}

const G_ON_DEMAND_MESSAGE =
  'aws.instanceType = "g4dn.xlarge": needs 4 vCPUs of the on-demand quota "Running On-Demand G and VT instances" ' +
  "(L-DB2E81BA) in us-east-1, which allows 0 vCPUs with 0 in use by running G and VT instances.\n" +
  "Ask AWS for 4 vCPUs:\n" +
  "  aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA --desired-value 4 --region us-east-1\n" +
  "or stop other G and VT instances in us-east-1, or plan a smaller type; set aws.skipQuotaCheck: true to skip this check.";

describe("quota catalog", () => {
  it(
    "maps every catalog family to its on-demand and spot quota codes: G and VT families to " +
      "L-DB2E81BA / L-3819A6DF, P families to L-417A185B / L-7212CCBC",
    () => {
      const g = { "on-demand": "L-DB2E81BA", spot: "L-3819A6DF" };
      const p = { "on-demand": "L-417A185B", spot: "L-7212CCBC" };
      assert.deepEqual(FAMILY_QUOTAS, {
        g4dn: g,
        g5: g,
        g6: g,
        gr6: g,
        g6e: g,
        g7e: g,
        p4d: p,
        p4de: p,
        p5: p,
        p5en: p,
        "p6-b200": p,
      });
    },
  );

  it("names each quota as Service Quotas does and counts every type of its group: g* and vt* for G and VT, p* for P", () => {
    assert.deepEqual(
      Object.values(EC2_GPU_QUOTAS).map((q) => [q.code, q.name, q.market, q.typePatterns.join(" ")]),
      [
        ["L-DB2E81BA", "Running On-Demand G and VT instances", "on-demand", "g* vt*"],
        ["L-3819A6DF", "All G and VT Spot Instance Requests", "spot", "g* vt*"],
        ["L-417A185B", "Running On-Demand P instances", "on-demand", "p*"],
        ["L-7212CCBC", "All P Spot Instance Requests", "spot", "p*"],
      ],
    );
  });

  it("finds the quota of types outside the catalog by family letter (g3, vt1, p3), and none for a CPU type", () => {
    assert.equal(quotaForType("g3.4xlarge", "on-demand")?.code, "L-DB2E81BA");
    assert.equal(quotaForType("vt1.3xlarge", "spot")?.code, "L-3819A6DF");
    assert.equal(quotaForType("p3.2xlarge", "on-demand")?.code, "L-417A185B");
    assert.equal(quotaForType("m7i.large", "on-demand"), null);
  });
});

describe("quota rules", () => {
  const need = quotaNeed({ type: "g5.xlarge", vcpus: 4, market: "on-demand" });

  it("fits exactly at applied - in use = needed (10 applied, 6 in use, 4 needed), falls short one vCPU below", () => {
    assert.ok(need !== null);
    assert.equal(quotaShortfall(need, { applied: 10, inUse: 6 }, "us-west-2"), null);
    const short = quotaShortfall(need, { applied: 9, inUse: 6 }, "us-west-2");
    assert.ok(short instanceof UserError);
    assert.match(short.message, /allows 9 vCPUs with 6 in use/);
    assert.match(short.message, /--quota-code L-DB2E81BA --desired-value 10 --region us-west-2\n/);
  });

  it("asks for whole vCPUs when the counts carry a fraction (9.5 applied, 6.5 in use, 4 needed: asks 11)", () => {
    assert.ok(need !== null);
    assert.match(quotaShortfall(need, { applied: 9.5, inUse: 6.5 }, "eu-west-1")?.message ?? "", /--desired-value 11 /);
  });

  it("words the plan's check line: not checked without credentials, ok, or SHORT with the command", () => {
    assert.ok(need !== null);
    assert.equal(
      quotaCheckText(need, { kind: "no-credentials" }),
      "Quota check  Running On-Demand G and VT instances (L-DB2E81BA): not checked (no AWS credentials)",
    );
    assert.equal(
      quotaCheckText(need, { kind: "read", region: "us-east-1", reading: { applied: 8, inUse: 4 } }),
      "Quota check  Running On-Demand G and VT instances (L-DB2E81BA): ok, 8 vCPUs applied in us-east-1, 4 in use, 4 needed",
    );
    assert.equal(
      quotaCheckText(need, { kind: "read", region: "us-east-1", reading: { applied: 0, inUse: 0 } }),
      "Quota check  Running On-Demand G and VT instances (L-DB2E81BA): SHORT, 0 vCPUs applied in us-east-1, 0 in use, 4 needed; ask for 4:\n" +
        "             aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA --desired-value 4 --region us-east-1",
    );
  });
});

describe("quota check in pulumi up (mocks)", () => {
  before(() => useMocks());

  it("dev stack with its G quota at 0 fails before any resource is registered, naming L-DB2E81BA, 4 vCPUs and the increase command", async () => {
    await useMocks();
    account.applied["L-DB2E81BA"] = 0;
    await refused(devConfig(), G_ON_DEMAND_MESSAGE);
    assert.deepEqual(quotaCalls(), ["L-DB2E81BA"]);
  });

  it("dev stack with 64 vCPUs of G quota and nothing running declares its g4dn.xlarge, with no warning", async () => {
    await useMocks();
    const warnings: string[] = [];
    assert.deepEqual(await deployed(devConfig(), warnings), ["g4dn.xlarge"]);
    // The first choice, then the fallback g4dn.2xlarge (8 vCPUs, more than the 4 found to fit); g6.xlarge (4) needs no read.
    assert.deepEqual(quotaCalls(), ["L-DB2E81BA", "L-DB2E81BA"]);
    assert.deepEqual(warnings, []);
  });

  it(
    "a quota of exactly 4 vCPUs with nothing running is enough for the dev stack; the fallback g4dn.2xlarge (8 vCPUs) " +
      "is left out of the fleet with one warning naming it and L-DB2E81BA",
    async () => {
      await useMocks();
      account.applied["L-DB2E81BA"] = 4;
      const warnings: string[] = [];
      assert.deepEqual(await deployed(devConfig(), warnings), ["g4dn.xlarge"]);
      assert.deepEqual(
        ofType("aws:ec2/launchTemplate:LaunchTemplate").map((t) => t.inputs.instanceType),
        ["g4dn.xlarge", "g6.xlarge"],
      );
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(
        warnings[0] ?? "",
        /^fallback candidates left out, their vCPU quota has no room: g4dn\.2xlarge \(on-demand, L-DB2E81BA: needs 8 vCPUs/,
      );
    },
  );

  it("quota 10 with 8 vCPUs on other on-demand G instances fails (asks 12); spot G, P and this stack's own instance are not counted", async () => {
    await useMocks();
    account.applied["L-DB2E81BA"] = 10;
    account.instances = [
      { id: "i-0other1", type: "g5.xlarge" },
      {
        id: "i-0other2",
        type: "g6.xlarge",
        tags: { "qwen3-serve:project": "qwen3-serve", "qwen3-serve:stack": "lab" },
      },
      { id: "i-0spot", type: "g6e.xlarge", spot: true },
      { id: "i-0p", type: "p4d.24xlarge" },
      {
        id: "i-0ours",
        type: "g4dn.xlarge",
        tags: { "qwen3-serve:project": "qwen3-serve", "qwen3-serve:stack": "dev" },
      },
    ];
    await refused(
      devConfig(),
      'aws.instanceType = "g4dn.xlarge": needs 4 vCPUs of the on-demand quota "Running On-Demand G and VT instances" ' +
        "(L-DB2E81BA) in us-east-1, which allows 10 vCPUs with 8 in use by running G and VT instances.\n" +
        "Ask AWS for 12 vCPUs:\n" +
        "  aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA --desired-value 12 --region us-east-1\n" +
        "or stop other G and VT instances in us-east-1, or plan a smaller type; set aws.skipQuotaCheck: true to skip this check.",
    );
  });

  it("a running type outside the catalog (g3.4xlarge, 16 vCPUs) counts by EC2's own vCPU figure: 23 applied, 20 in use fails", async () => {
    await useMocks();
    account.applied["L-DB2E81BA"] = 23;
    account.instances = [
      { id: "i-0old", type: "g3.4xlarge" },
      { id: "i-0g5", type: "g5.xlarge" },
    ];
    await assert.rejects(deployStack(devConfig(), ctx()), /allows 23 vCPUs with 20 in use[\s\S]*--desired-value 24 /);
    assert.equal(recordedCalls.filter((c) => c.token === "aws:ec2/getInstanceType:getInstanceType").length, 1);
  });

  it("a spot stack reads the G and VT spot quota L-3819A6DF (not the on-demand one) and counts only spot instances", async () => {
    await useMocks();
    account.applied["L-3819A6DF"] = 4;
    account.instances = [{ id: "i-0od", type: "g5.xlarge" }];
    assert.deepEqual(await deployed(devConfig({ "qwen3-serve:spot": "true" })), ["g4dn.xlarge"]);
    assert.deepEqual(quotaCalls(), ["L-3819A6DF", "L-3819A6DF"], "the first choice, then g4dn.2xlarge");
    await useMocks();
    account.applied["L-3819A6DF"] = 0;
    await assert.rejects(
      deployStack(devConfig({ "qwen3-serve:spot": "true" }), ctx()),
      /needs 4 vCPUs of the spot quota "All G and VT Spot Instance Requests" \(L-3819A6DF\)/,
    );
  });

  it("a plan pinned to p4d.24xlarge (96 vCPUs) reads the P quota L-417A185B and fails at the default 64", async () => {
    await useMocks();
    await assert.rejects(deployStack(devConfig(devAws({ instanceType: "p4d.24xlarge" })), ctx()), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(
        e.message,
        /^aws\.instanceType = "p4d\.24xlarge": needs 96 vCPUs of the on-demand quota "Running On-Demand P instances" \(L-417A185B\)/,
      );
      assert.match(e.message, /--quota-code L-417A185B --desired-value 96 --region us-east-1\n/);
      return true;
    });
    assert.deepEqual(quotaCalls(), ["L-417A185B"]);
  });

  it("a denied quota read warns once, naming the code and AccessDeniedException, and the deployment goes on", async () => {
    await useMocks();
    account.applied["L-DB2E81BA"] = "denied";
    const warnings: string[] = [];
    assert.deepEqual(await deployed(devConfig(), warnings), ["g4dn.xlarge"]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0] ?? "", /^quota check skipped: could not read L-DB2E81BA .*AccessDeniedException/);
    assert.match(warnings[0] ?? "", /Set aws\.skipQuotaCheck: true to silence this\.$/);
  });

  it("aws.skipQuotaCheck: true makes no quota or instance call and deploys even at quota 0", async () => {
    await useMocks();
    account.applied["L-DB2E81BA"] = 0;
    assert.deepEqual(await deployed(devConfig(devAws({ skipQuotaCheck: true }))), ["g4dn.xlarge"]);
    assert.deepEqual(quotaCalls(), []);
    assert.equal(ec2InstanceCalls(), 0);
  });
});

describe("plan CLI and quotas", () => {
  /** The plan CLI with no AWS_* variables and an empty home, so the SDK finds no credentials anywhere. */
  function planBare(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const home = mkdtempSync(path.join(tmpdir(), "qwen3-serve-nocreds-"));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "scripts/plan.ts", ...args],
        {
          cwd: ROOT,
          timeout: 120_000,
          env: { ...env, HOME: home, USERPROFILE: home, AWS_EC2_METADATA_DISABLED: "true" },
        },
        (err, stdout, stderr) => {
          rmSync(home, { recursive: true, force: true });
          resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stdout, stderr });
        },
      );
    });
  }

  it("without --check-quota prints which quota the plan needs and how many vCPUs, and --json carries it as quota", async () => {
    const text = await planBare("--model", "Qwen3-8B", "--engine", "vllm");
    assert.equal(text.code, 0, text.stderr);
    assert.equal(
      text.stdout.split("\n").find((l) => l.startsWith("Quota")),
      'Quota     4 vCPUs of "Running On-Demand G and VT instances" (L-DB2E81BA) in the launch region; --check-quota reads it',
    );
    const json = await planBare("--model", "Qwen3-8B", "--engine", "vllm", "--spot", "--json");
    assert.equal(json.code, 0, json.stderr);
    // Spot, the plan picks g6e.2xlarge (8 vCPUs).
    assert.deepEqual(JSON.parse(json.stdout).quota, {
      code: "L-3819A6DF",
      name: "All G and VT Spot Instance Requests",
      market: "spot",
      vcpus: 8,
    });
  });

  it("--check-quota without AWS credentials says not checked (no AWS credentials) and exits 0", async () => {
    const r = await planBare("--model", "Qwen3-8B", "--engine", "vllm", "--check-quota");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stdout
        .split("\n")
        .includes("Quota check  Running On-Demand G and VT instances (L-DB2E81BA): not checked (no AWS credentials)"),
      r.stdout,
    );
  });
});
