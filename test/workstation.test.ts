/**
 * The workstation target. Under Pulumi mocks: the exact resources and inputs (secrets only on
 * stdin, never on a command line; re-run triggered by the installer's hash; uninstall on delete,
 * old before new). Then the same commands the component declares, run for real over SSH against
 * Debian's openssh-server on loopback (a throwaway key), into the bootstrap sandbox (stub GPU,
 * Docker and systemd, a fake engine, real nginx): the env and secrets files land 0600, the
 * endpoint answers, a second run changes nothing, and destroy removes everything but the weights.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { decodeConfigValues, parseStackConfig } from "../components/core/config";
import { shellQuote } from "../components/core/bootstrap";
import { UserError } from "../components/core/errors";
import { deployStack, type StackContext } from "../components/stack";
import { MOCK_API_KEY, ofType, recorded, resolveAll, secretValue, useMocks } from "./helpers/pulumiMocks";
import { freePort, request, Sandbox } from "./helpers/sandbox";
import { stackFileConfig } from "./helpers/stacks";

const SSH_KEY_TEXT = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";
const ctx = (stack: string, warnings: string[] = []): StackContext => ({
  project: "qwen3-serve", stack, defaultOwner: "tester", myIp: async () => "198.51.100.77", isSecret: () => true, warn: (m) => warnings.push(m),
});

interface RemoteInputs {
  create: string;
  stdin?: unknown;
  delete?: string;
  triggers?: string[];
  connection: unknown;
  logging?: string;
}

/** stdin as sent: secret-marked for the secrets step, plain for the installer. */
const stdinOf = (c: RemoteInputs): string => (typeof c.stdin === "string" ? c.stdin : String(secretValue(c.stdin)));

async function declare(raw: Record<string, string>, stack: string): Promise<{ secrets: RemoteInputs; install: RemoteInputs; endpoint: string }> {
  await useMocks();
  const out = await deployStack(parseStackConfig(decodeConfigValues(raw)), ctx(stack));
  await resolveAll(out);
  const commands = ofType("command:remote:Command");
  const by = (suffix: string): RemoteInputs => commands.find((c) => c.name.endsWith(suffix))?.inputs as unknown as RemoteInputs;
  let endpoint = "";
  out.endpoint.apply((e) => (endpoint = e));
  await resolveAll(out);
  return { secrets: by("-secrets"), install: by("-install"), endpoint };
}

describe("workstation under mocks", () => {
  const raw = (): Record<string, string> => ({ ...stackFileConfig("workstation"), "qwen3-serve:sshPrivateKey": SSH_KEY_TEXT });

  it("declares an API key and two SSH commands, and nothing else", async () => {
    await declare(raw(), "ws");
    assert.deepEqual(recorded.map((r) => r.type).sort(), ["command:remote:Command", "command:remote:Command", "qwen3-serve:workstation:Server", "random:index/randomPassword:RandomPassword"]);
  });

  it("sends the key and token on stdin only; command lines hold no secret", async () => {
    const { secrets, install } = await declare({ ...raw(), "qwen3-serve:hfToken": "hf_secretTokenValue123" }, "ws2");
    assert.equal(secrets.create, `sudo sh -c 'umask 077 && mkdir -p "\${QS_ROOT:-}/etc/qwen3-serve" && cat > "\${QS_ROOT:-}/etc/qwen3-serve/secrets.env"'`);
    assert.equal(secretValue(secrets.stdin), `API_KEY=${MOCK_API_KEY}\nHF_TOKEN=hf_secretTokenValue123\n`, "stdin is marked secret");
    for (const c of [secrets.create, install.create, install.delete ?? ""]) {
      assert.ok(!c.includes(MOCK_API_KEY) && !c.includes("hf_secret"), c);
    }
    assert.ok(!stdinOf(install).includes(MOCK_API_KEY), "the installer holds no key");
    // The whole connection, private key included, is marked secret (the provider adds its dial defaults).
    assert.deepEqual(secretValue(install.connection), { host: "192.0.2.10", port: 22, user: "ubuntu", privateKey: SSH_KEY_TEXT, dialErrorLimit: 10, perDialTimeout: 15 });
  });

  it("re-runs only when the installer changes: same config, same trigger; another model, another", async () => {
    const a = await declare(raw(), "ws3");
    const b = await declare(raw(), "ws4");
    const c = await declare({ ...raw(), "qwen3-serve:model": "Qwen3-14B" }, "ws5");
    assert.deepEqual(a.install.triggers, b.install.triggers);
    assert.notDeepEqual(a.install.triggers, c.install.triggers);
    assert.equal(a.install.create, "sudo bash -s");
    assert.equal(a.install.delete, `sudo sh -c 'if [ -f "\${QS_ROOT:-}/usr/local/lib/qwen3-serve/uninstall.sh" ]; then bash "\${QS_ROOT:-}/usr/local/lib/qwen3-serve/uninstall.sh"; fi'`);
    assert.equal(a.endpoint, "http://192.0.2.10:8080/v1");
  });

  it("fits the plan to the stated GPUs, stepping down what the stack left open, and says so", async () => {
    await useMocks();
    const warnings: string[] = [];
    const cfg = parseStackConfig(decodeConfigValues({ ...raw(), "qwen3-serve:model": "Qwen3-8B", "qwen3-serve:workstation": JSON.stringify({ host: "h", gpus: { model: "RTX-4090", count: 1 } }) }));
    const out = await deployStack(cfg, ctx("ws6", warnings));
    await resolveAll(out);
    assert.deepEqual([out.plan.quantization, out.plan.contextLength], ["bf16", 16384]);
    assert.deepEqual(warnings, ["Qwen3-8B as asked does not fit 1 x RTX-4090 (24.0 GiB each); serving context 16384 instead of 32768"]);
  });

  it("refuses, with the reason, what no quantization or context fits", async () => {
    await useMocks();
    const cfg = parseStackConfig(decodeConfigValues({ ...raw(), "qwen3-serve:model": "Qwen3-235B-A22B", "qwen3-serve:workstation": JSON.stringify({ host: "h", gpus: { model: "RTX-4090", count: 2 } }) }));
    await assert.rejects(deployStack(cfg, ctx("ws7")), (e: unknown) => e instanceof UserError && e.key === "workstation.gpus" && /does not fit this machine as asked \(needs 248\.8 GiB per GPU at TP 2, has 24\.0\)/.test(e.problem));
    assert.deepEqual(recorded, []);
  });

  it("requires the SSH key, as a secret", () => {
    assert.throws(() => parseStackConfig(decodeConfigValues(stackFileConfig("workstation"))), /sshPrivateKey = "\(missing\)": the workstation target connects over SSH with a private key\./);
  });
});

/** Whoever runs the tests logs in to the loopback sshd: root in CI, or the developer. */
const USER = os.userInfo().username;

describe("the workstation flow over real SSH on loopback", () => {
  let dir: string;
  let sshd: ChildProcess;
  let sshPort: number;
  let sb: Sandbox;
  let steps: { secrets: RemoteInputs; install: RemoteInputs };
  let proxyPort: number;

  const ssh = (remote: string, stdin: string): { code: number; out: string } => {
    const r = spawnSync(
      "ssh",
      ["-i", path.join(dir, "client"), "-p", String(sshPort), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", `${USER}@127.0.0.1`, `env ${sb.envWords()} bash -c ${shellQuote(remote)}`],
      { input: stdin, encoding: "utf8", timeout: 180_000 },
    );
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "qs-sshd-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host")]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "client")]);
    writeFileSync(path.join(dir, "authorized_keys"), readFileSync(path.join(dir, "client.pub")));
    sshPort = await freePort();
    writeFileSync(
      path.join(dir, "sshd_config"),
      [`Port ${sshPort}`, "ListenAddress 127.0.0.1", `HostKey ${dir}/host`, `AuthorizedKeysFile ${dir}/authorized_keys`, "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", `PidFile ${dir}/sshd.pid`, ""].join("\n"),
    );
    // sshd run by root insists on its privilege-separation folder; run by a user it needs none.
    if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true });
    sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      const probe = spawnSync("ssh", ["-i", path.join(dir, "client"), "-p", String(sshPort), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", `${USER}@127.0.0.1`, "true"]);
      if (probe.status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    proxyPort = await freePort();
    const config = {
      "qwen3-serve:target": "workstation",
      "qwen3-serve:model": "qwen3:0.6b",
      "qwen3-serve:engine": "ollama",
      "qwen3-serve:sshPrivateKey": readFileSync(path.join(dir, "client"), "utf8"),
      "qwen3-serve:workstation": JSON.stringify({ host: "127.0.0.1", port: sshPort, user: USER, proxyPort, gpus: { model: "RTX-4090", count: 1 } }),
    };
    steps = await declare(config, "loopback");
    // The sandbox supplies the stub commands, nginx's base config and the fake engine; the files
    // themselves come from the component's installer, over SSH.
    sb = await Sandbox.create({ request: { model: "qwen3:0.6b", engine: "ollama" }, secrets: "remote", gpus: { name: "NVIDIA GeForce RTX 4090", mib: 24564, cc: "8.9", count: 1 } });
    sb.setEnv({ FAKE_ENGINE_PORT: "11434" });
  });

  after(() => {
    sb?.destroy();
    sshd?.kill();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("writes the secrets over SSH into a root-only file", () => {
    const r = ssh(steps.secrets.create, stdinOf(steps.secrets));
    assert.equal(r.code, 0, r.out);
    const file = sb.p("etc/qwen3-serve/secrets.env");
    assert.equal((statSync(file).mode & 0o777).toString(8), "600");
    assert.equal(readFileSync(file, "utf8"), `API_KEY=${MOCK_API_KEY}\n`);
  });

  it("uploads and runs the installer: env file 0600, endpoint demanding the key", async () => {
    const r = ssh(steps.install.create, stdinOf(steps.install));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /qwen3-serve\[bootstrap\]: ready: qwen3:0\.6b-q4_K_M answers on port \d+/);
    assert.equal((statSync(sb.p("etc/qwen3-serve/bootstrap.env")).mode & 0o777).toString(8), "600");
    assert.equal(sb.status().state, "ready");
    const url = `http://127.0.0.1:${proxyPort}/v1/models`;
    assert.equal((await request(url)).status, 401);
    assert.equal((await request(url, { headers: { Authorization: `Bearer ${MOCK_API_KEY}` } })).status, 200);
  });

  it("a second run is a no-op", () => {
    const before = sb.calls().length;
    const r = ssh(steps.install.create, stdinOf(steps.install));
    assert.equal(r.code, 0, r.out);
    const mutating = sb.calls().slice(before).filter(
      (c) => (c.cmd === "docker" && ["pull", "run"].includes(c.args[0] ?? "")) || c.cmd === "apt-get" || (c.cmd === "systemctl" && /start|restart|reload/.test(c.args[0] ?? "")),
    );
    assert.deepEqual(mutating, []);
    assert.equal(sb.count("pull"), 1, "the model was pulled once");
  });

  it("destroy removes units, proxy config, scripts and secrets, and keeps the weights", () => {
    const r = ssh((steps.install.delete ?? ""), "");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /weights kept/);
    for (const gone of ["etc/systemd/system/qwen3-serve-engine.service", "etc/systemd/system/qwen3-serve-bootstrap.service", "etc/systemd/system/qwen3-serve-idle.timer", "etc/systemd/system/qwen3-serve-idle.service", "etc/logrotate.d/qwen3-serve", "etc/nginx/conf.d/qwen3-serve.conf", "etc/qwen3-serve", "usr/local/lib/qwen3-serve"]) {
      assert.equal(existsSync(sb.p(gone)), false, gone);
    }
    assert.ok(existsSync(sb.p("var/lib/qwen3-serve/ollama/models/manifests")), "weights stay");
    // Running it again finds nothing to do and still succeeds.
    assert.equal(ssh((steps.install.delete ?? ""), "").code, 0);
  });
});
