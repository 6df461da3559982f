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
import { gunzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { AMI_FAMILIES } from "../components/catalog/amis";
import { decodeConfigValues, parseStackConfig, type StackConfig } from "../components/core/config";
import { UserError } from "../components/core/errors";
import { deployStack, planForStack, type StackContext, type StackOutputs } from "../components/stack";
import { stackFileConfig, stackNames, stacksFor, stackTarget } from "./helpers/stacks";
import { MOCK_API_KEY, MOCK_PUBLIC_IP, ofType, recorded, resolveAll, secretValue, settle, useMocks, valueOf } from "./helpers/pulumiMocks";

const MY_IP = "198.51.100.77";
const ctx = (stack: string, secretsAreSecret = true): StackContext => ({ project: "qwen3-serve", stack, defaultOwner: "tester", myIp: async () => MY_IP, isSecret: () => secretsAreSecret });

const stacks = stacksFor("aws");

const userDataOf = (inputs: Record<string, unknown>): string => gunzipSync(Buffer.from(String(inputs.userDataBase64), "base64")).toString("utf8");

before(() => useMocks());

describe("example stacks", () => {
  it("are dev, lab and prod on AWS, plus one workstation and one Docker stack", () => {
    assert.deepEqual(stacks, ["dev", "lab", "prod"]);
    assert.deepEqual(stackNames().map((s) => `${s}:${stackTarget(s)}`), ["dev:aws", "docker:docker", "lab:aws", "prod:aws", "workstation:workstation"]);
  });

  for (const stack of stacks) {
    describe(stack, () => {
      let config: StackConfig;
      let out: StackOutputs;

      before(async () => {
        await useMocks();
        config = parseStackConfig(decodeConfigValues(stackFileConfig(stack)));
        out = await deployStack(config, ctx(stack));
        await resolveAll(out);
      });

      it("creates exactly the expected resources", () => {
        const types = recorded.map((r) => r.type).sort();
        const expected = [
          "aws:ec2/instance:Instance", "aws:ec2/securityGroup:SecurityGroup", "aws:ec2transitgateway/instanceState:InstanceState",
          "aws:iam/instanceProfile:InstanceProfile", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
          "aws:ssm/parameter:Parameter", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
          ...Array<string>(config.aws?.allowedCidrs?.length ?? 0).fill("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
          "command:local:Command", "qwen3-serve:aws:GpuServer", "random:index/randomPassword:RandomPassword",
        ].sort();
        assert.deepEqual(types, expected);
      });

      it("launches the planned instance type from the family's AMI, IMDSv2 only, encrypted gp3 root sized from the plan", () => {
        const [instance] = ofType("aws:ec2/instance:Instance");
        assert.ok(instance);
        const plan = out.plan;
        const i = instance.inputs;
        assert.equal(i.instanceType, plan.instance.type);
        assert.equal(i.ami, "ami-0mockdlami000000");
        assert.deepEqual(i.metadataOptions, { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1, instanceMetadataTags: "enabled" });
        const family = AMI_FAMILIES[config.aws?.ami ?? "dlami-ubuntu-24.04"];
        const rv = config.aws?.rootVolume;
        assert.deepEqual(i.rootBlockDevice, {
          volumeType: "gp3",
          volumeSize: family.osDiskGiB + plan.disk.totalGiB + (rv?.extraGiB ?? 0),
          iops: rv?.iops,
          throughput: rv?.throughputMiBps,
          encrypted: true,
          deleteOnTermination: true,
          tags: (i.rootBlockDevice as { tags: unknown }).tags,
        });
        assert.equal(i.instanceInitiatedShutdownBehavior, config.idleAction);
        assert.equal(i.userDataReplaceOnChange, true);
        assert.equal(i.subnetId, "subnet-0aaaaaaaaaaaaaaaa", "the default subnet, first by id, in a zone offering the type");
        assert.equal(i.instanceMarketOptions, undefined, "on-demand unless spot is asked for");
      });

      it("allows ingress only on the proxy port from the configured CIDRs, never 0.0.0.0/0", () => {
        const rules = ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => r.inputs);
        const want = (config.aws?.allowedCidrs ?? []).map((c) => (c === "myip" ? `${MY_IP}/32` : c));
        assert.deepEqual(rules.map((r) => [r.cidrIpv4, r.ipProtocol, r.fromPort, r.toPort]), want.map((c) => [c, "tcp", config.aws?.proxyPort, config.aws?.proxyPort]));
        assert.ok(!rules.some((r) => r.cidrIpv4 === "0.0.0.0/0"));
        const [egress] = ofType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule");
        assert.deepEqual([egress?.inputs.cidrIpv4, egress?.inputs.ipProtocol], ["0.0.0.0/0", "-1"]);
      });

      it("scopes IAM to SSM Session Manager plus reading exactly this stack's parameter", () => {
        assert.deepEqual(ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((r) => r.inputs.policyArn), ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]);
        const [policy] = ofType("aws:iam/rolePolicy:RolePolicy");
        assert.deepEqual(JSON.parse(String(policy?.inputs.policy)), {
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: ["ssm:GetParameter"], Resource: [`arn:aws:ssm:us-east-1:123456789012:parameter/qwen3-serve/${stack}/api-key`] }],
        });
        const [param] = ofType("aws:ssm/parameter:Parameter");
        assert.deepEqual([param?.inputs.name, param?.inputs.type], [`/qwen3-serve/${stack}/api-key`, "SecureString"]);
      });

      it("puts no secret in user data: only the parameter name, which the machine reads at boot", () => {
        const [instance] = ofType("aws:ec2/instance:Instance");
        const userData = userDataOf(instance?.inputs ?? {});
        assert.ok(userData.startsWith("#cloud-config\n"));
        assert.ok(!userData.includes(MOCK_API_KEY));
        assert.match(userData, new RegExp(`SSM_API_KEY_PARAM='/qwen3-serve/${stack}/api-key'`));
        assert.ok(Buffer.from(String(instance?.inputs.userDataBase64), "base64").length < 16384, "EC2 user data limit");
      });

      it("ships the idle watchdog, its window and TTL in the instance's tags (changeable in place), powering off into idleAction", () => {
        const [instance] = ofType("aws:ec2/instance:Instance");
        const userData = userDataOf(instance?.inputs ?? {});
        assert.match(userData, /path: \/usr\/local\/lib\/qwen3-serve\/idle\.py\n/);
        assert.match(userData, /IDLE_SETTINGS='imds-tags'/);
        // Not in user data: a new window must not mean new user data, hence a new instance.
        assert.match(userData, /IDLE_MINUTES=''\n/);
        assert.match(userData, /TTL_HOURS=''\n/);
        assert.match(userData, /IDLE_ACTION='poweroff'/);
        const tags = instance?.inputs.tags as Record<string, string>;
        assert.equal(tags["qwen3-serve:idle-minutes"], String(config.idleMinutes));
        assert.equal(tags["qwen3-serve:ttl-hours"], config.ttlHours === undefined ? undefined : String(config.ttlHours));
        assert.equal(instance?.inputs.instanceInitiatedShutdownBehavior, config.idleAction);
      });

      it("tags every taggable resource with project, stack, model, engine and owner", () => {
        const taggable = recorded.filter((r) => r.inputs.tags !== undefined || r.type === "aws:ec2/instance:Instance");
        assert.ok(taggable.length >= 7);
        for (const r of taggable) {
          const tags = r.inputs.tags as Record<string, string>;
          assert.equal(tags["qwen3-serve:project"], "qwen3-serve", r.name);
          assert.equal(tags["qwen3-serve:stack"], stack, r.name);
          assert.equal(tags["qwen3-serve:model"], out.plan.model.id, r.name);
          assert.equal(tags["qwen3-serve:engine"], out.plan.engine, r.name);
          assert.equal(tags["qwen3-serve:owner"], config.owner ?? "tester", r.name);
        }
      });

      it("waits for readiness once per machine, with the key in the environment, never on the command line", () => {
        const [wait] = ofType("command:local:Command");
        assert.equal(wait?.inputs.create, "node --import tsx scripts/wait-ready.ts");
        // A secret value inside the map makes the whole environment secret in state and diffs.
        const env = secretValue(wait?.inputs.environment) as Record<string, string>;
        assert.equal(env.QS_API_KEY, MOCK_API_KEY);
        assert.equal(env.QS_BASE_URL, `http://${MOCK_PUBLIC_IP}:${config.aws?.proxyPort}`);
        assert.equal(env.QS_MODEL, out.plan.serve.servedModelName);
        assert.deepEqual(wait?.inputs.triggers, [`i-0${stack}`]);
      });

      it("exports the endpoint, model, key (secret), instance facts, SSM commands and a curl example", async () => {
        assert.equal(await valueOf(out.endpoint), `http://${MOCK_PUBLIC_IP}:${config.aws?.proxyPort}/v1`);
        assert.equal(await valueOf(out.modelName), out.plan.serve.servedModelName);
        assert.equal(await valueOf(out.apiKey), MOCK_API_KEY);
        assert.equal(await pulumi.isSecret(out.apiKey), true);
        assert.equal(await valueOf(out.instanceId), `i-0${stack}`);
        assert.equal(await valueOf(out.instanceType), out.plan.instance.type);
        assert.equal(await valueOf(out.pricePerHour), out.plan.instance.pricePerHour);
        assert.equal(await valueOf(out.amiId), "ami-0mockdlami000000");
        assert.equal(await valueOf(out.connectCommand), `aws ssm start-session --region us-east-1 --target i-0${stack}`);
        const curl = await valueOf(out.curlExample);
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
      return ofType("aws:ec2/instance:Instance")[0]?.inputs ?? {};
    };
    const a = await deploy({}, "same");
    const b = await deploy({ "qwen3-serve:idleMinutes": "90", "qwen3-serve:ttlHours": "6", "qwen3-serve:idleCountsSsh": "true" }, "same");
    assert.equal(a.userDataBase64, b.userDataBase64);
    const tags = b.tags as Record<string, string>;
    assert.deepEqual([tags["qwen3-serve:idle-minutes"], tags["qwen3-serve:ttl-hours"], tags["qwen3-serve:idle-counts-ssh"]], ["90", "6", "true"]);
  });

  it("spot: persistent request that stops on interruption, priced from the spot snapshot", async () => {
    await useMocks();
    const out = await deployStack(parseStackConfig(decodeConfigValues({ ...base(), "qwen3-serve:spot": "true" })), ctx("spot"));
    await resolveAll(out);
    const [instance] = ofType("aws:ec2/instance:Instance");
    assert.deepEqual(instance?.inputs.instanceMarketOptions, { marketType: "spot", spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" } });
    assert.equal(out.plan.instance.market, "spot");
  });

  it("private: no public IP, no ingress, no readiness wait; reach it through the SSM port forward", async () => {
    await useMocks();
    const out = await deployStack(parseStackConfig(decodeConfigValues({ ...base(), "qwen3-serve:aws": JSON.stringify({ private: true }) })), ctx("private"));
    await resolveAll(out);
    assert.equal(ofType("aws:ec2/instance:Instance")[0]?.inputs.associatePublicIpAddress, false);
    assert.equal(ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").length, 0);
    assert.equal(ofType("command:local:Command").length, 0);
    assert.equal(await valueOf(out.endpoint), "http://127.0.0.1:8080/v1");
    assert.match(await valueOf(out.portForwardCommand), /--document-name AWS-StartPortForwardingSession --parameters portNumber=8080,localPortNumber=8080$/);
  });

  it("a pinned AMI is used as given and may change; an unpinned one is ignored on later updates", async () => {
    await useMocks();
    await resolveAll(await deployStack(parseStackConfig(decodeConfigValues({ ...base(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], amiId: "ami-0123456789abcdef0" }) })), ctx("pinned")));
    assert.equal(ofType("aws:ec2/instance:Instance")[0]?.inputs.ami, "ami-0123456789abcdef0");
  });

  it("plain Ubuntu: Canonical's parameter, a small OS disk, and the bootstrap installs the driver", async () => {
    await useMocks();
    const out = await deployStack(parseStackConfig(decodeConfigValues({ ...base(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], ami: "ubuntu-22.04" }) })), ctx("ubuntu"));
    await resolveAll(out);
    const [instance] = ofType("aws:ec2/instance:Instance");
    assert.equal((instance?.inputs.rootBlockDevice as { volumeSize: number }).volumeSize, 30 + out.plan.disk.totalGiB);
    assert.match(userDataOf(instance?.inputs ?? {}), /DRIVER_POLICY='install'/);
  });

  it("the HF token goes to its own SecureString, readable by the role, never into user data", async () => {
    await useMocks();
    const out = await deployStack(parseStackConfig(decodeConfigValues({ ...base(), "qwen3-serve:hfToken": "hf_secretTokenValue123" })), ctx("hf"));
    await resolveAll(out);
    const params = ofType("aws:ssm/parameter:Parameter").map((p) => String(p.inputs.name)).sort();
    assert.deepEqual(params, ["/qwen3-serve/hf/api-key", "/qwen3-serve/hf/hf-token"]);
    const policy = JSON.parse(String(ofType("aws:iam/rolePolicy:RolePolicy")[0]?.inputs.policy)) as { Statement: { Resource: string[] }[] };
    assert.equal(policy.Statement[0]?.Resource.length, 2);
    assert.ok(!userDataOf(ofType("aws:ec2/instance:Instance")[0]?.inputs ?? {}).includes("hf_secretTokenValue123"));
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
    mistake({ ...dev(), "qwen3-serve:idleMinuts": "30" }, "idleMinuts = \"idleMinuts\": unknown setting.\nCheck the spelling; settings are case-sensitive.\nValid choices: model, engine, quantization, context, concurrency, modelRevision, families, instanceTypes, maxPricePerHour, spot, target, owner, tags, idleMinutes, idleCountsSsh, ttlHours, expiresAt, idleAction, hfToken, sshPrivateKey, aws, workstation, docker"));

  it("a tag key EC2 cannot serve through instance metadata is refused, naming it", async () => {
    await useMocks();
    assert.throws(() => parseStackConfig(decodeConfigValues({ ...dev(), "qwen3-serve:tags": JSON.stringify({ "team/ml": "x" }) })), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, 'tags = "team/ml": tag keys are 1-128 letters, digits and + - = . , _ : @ (no spaces or /).\nRename the key.');
      return true;
    });
    assert.deepEqual(recorded, []);
  });

  it("a misspelled nested key is named with its path", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidr: ["10.0.0.0/8"] }) },
      'aws.allowedCidr = "aws.allowedCidr": unknown setting.\nCheck the spelling; settings are case-sensitive.\nValid choices: region, instanceType, ami, amiId, subnetId, allowedCidrs, allowPublicIngress, private, ssh, proxyPort, tls, rootVolume, waitForReady, engineImageDigest',
    ));

  it("0.0.0.0/0 is refused unless explicitly allowed", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["0.0.0.0/0"] }) },
      'aws.allowedCidrs = "0.0.0.0/0": opens the port to the whole internet.\nUse narrower CIDRs, or set aws.allowPublicIngress: true if you really mean it.',
    ));

  it("allowedCidrs is required unless private", () =>
    mistake(
      { ...dev(), "qwen3-serve:aws": JSON.stringify({}) },
      'aws.allowedCidrs = "(missing)": required: who may reach the endpoint port.\nList CIDRs such as ["myip"] or ["203.0.113.0/24"], or set private: true and reach it through an SSM port forward.',
    ));

  it("a pinned instance type too small for the model names the type and why", () =>
    mistake(
      { ...dev(), "qwen3-serve:model": "Qwen3-32B", "qwen3-serve:engine": "vllm", "qwen3-serve:aws": JSON.stringify({ allowedCidrs: ["10.0.0.0/8"], instanceType: "g6.xlarge" }) },
      'aws.instanceType = "g6.xlarge": cannot hold Qwen3-32B (needs 80.1 GiB per GPU at TP 1, has 22.4).\nRemove the pin to let the plan choose (it picks g7e.2xlarge), or lower quantization, context or concurrency.',
    ));

  it("a bad value names the key, the value and the choices", () =>
    mistake({ ...dev(), "qwen3-serve:idleAction": "hibernate" }, 'idleAction = "hibernate": Invalid option: expected one of "stop"|"terminate".\nPick one of the valid choices.\nValid choices: stop, terminate'));

  it("a plain-text HF token is refused", () =>
    mistake({ ...dev(), "qwen3-serve:hfToken": "hf_plain" }, 'hfToken = "(plain text)": the Hugging Face token is stored in plain text in the stack file.\nSet it with `pulumi config set --secret qwen3-serve:hfToken <value>`.', false));
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
