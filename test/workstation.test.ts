/**
 * The workstation target. Under Pulumi mocks: the exact resources and inputs (one SSH command whose
 * secret-marked stdin carries the installer with the secrets file in it, never a command line; the
 * connection pinned to the machine's host key; a changed plan or setting is an update in place,
 * another machine a delete-before-replace; uninstall on delete), and the host key's validation.
 * Then the commands the component declares, replayed over real SSH exactly as `pulumi up` would run
 * them (test/helpers/commandSteps.ts), against Debian's openssh-server on loopback (throwaway keys,
 * host key checked as the provider does), into the bootstrap sandbox (stub GPU, Docker and systemd,
 * a fake engine, real nginx): a wrong host key gets nothing; the secrets and env files land 0600;
 * the endpoint answers; a changed port, idle window or model leaves it answering; a move to another
 * address replaces the install and it answers again; destroy removes everything but the weights.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { decodeConfigValues, parseStackConfig } from "../components/config/schema";
import { shellQuote } from "../components/engines/shell";
import { UserError } from "../components/errors/userError";
import { deployStack, type StackContext } from "../components/program/deploy";
import { commandSteps, type RemoteInputs, type Step } from "./helpers/commandSteps";
import {
  MOCK_API_KEY,
  ofType,
  recorded,
  registeredOptions,
  resolveAll,
  secretValue,
  useMocks,
  outputValue,
} from "./helpers/pulumiMocks";
import { freePort, Sandbox } from "./helpers/sandbox";
import { stackFileConfig } from "./helpers/stacks";
import { findTool, requireTool } from "./helpers/tools";

const SSH_KEY_TEXT = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";
/** The example stack's host key, as `ssh-keyscan` prints it. */
const EXAMPLE_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGuCXvOfClsKwS0ohV6xnJCCPexQeKDaUi5x+gnUunA0";
const ctx = (stack: string, warnings: string[] = []): StackContext => ({
  project: "qwen3-serve",
  stack,
  defaultOwner: "tester",
  myIp: async () => "198.51.100.77",
  isSecret: () => true,
  warn: (m) => warnings.push(m),
});

/** A declared install command and the options it was registered with. */
interface Declared {
  readonly install: RemoteInputs;
  readonly deleteBeforeReplace: boolean;
  readonly endpoint: string;
}

/** The installer as sent: always secret-marked, since it carries the secrets file. */
const stdinText = (stdin: unknown): string => String(secretValue(stdin));
/** The base64 lines the installer's put() decodes for one file, decoded. */
function installedFile(installer: string, file: string): string | undefined {
  const m = new RegExp(
    `^put '${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}' (\\d+) <<'QS_FILE'\n([\\s\\S]*?)\nQS_FILE$`,
    "m",
  ).exec(installer);
  return m === null ? undefined : `${m[1]} ${Buffer.from((m[2] ?? "").replace(/\n/g, ""), "base64").toString("utf8")}`;
}

async function declare(raw: Record<string, string>, stack: string): Promise<Declared> {
  await useMocks();
  const out = await deployStack(parseStackConfig(decodeConfigValues(raw)), ctx(stack));
  await resolveAll(out);
  const install = ofType("command:remote:Command").find((c) => c.name === `${stack}-install`)
    ?.inputs as unknown as RemoteInputs;
  let endpoint = "";
  out.endpoint.apply((e) => (endpoint = e));
  await resolveAll(out);
  return {
    install,
    deleteBeforeReplace: registeredOptions.get(`${stack}-install`)?.deleteBeforeReplace ?? false,
    endpoint,
  };
}

/** Fail at once, saying why, when a fixed port is taken (another test run on this machine). */
async function assertPortFree(port: number, what: string): Promise<void> {
  const server = net.createServer();
  const taken = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(true));
    server.listen(port, "127.0.0.1", () => resolve(false));
  });
  await new Promise<void>((resolve) => (taken ? resolve() : server.close(() => resolve())));
  assert.ok(!taken, `127.0.0.1:${port} is in use, and ${what} needs it: is another test run going on this machine?`);
}

describe("workstation under mocks", () => {
  const raw = (): Record<string, string> => ({
    ...stackFileConfig("workstation"),
    "qwen3-serve:sshPrivateKey": SSH_KEY_TEXT,
  });
  const ws = (over: Record<string, unknown>): string =>
    JSON.stringify({
      host: "192.0.2.10",
      gpus: { model: "RTX-4090", count: 2 },
      hostKey: `192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}`,
      ...over,
    });

  it("declares an API key and one SSH command, and nothing else", async () => {
    await declare(raw(), "ws");
    assert.deepEqual(recorded.map((r) => r.type).sort(), [
      "command:remote:Command",
      "qwen3-serve:workstation:Server",
      "random:index/randomPassword:RandomPassword",
    ]);
  });

  it("sends the key and token only inside the secret-marked installer on stdin, as a 0600 file placed first; command lines hold no secret", async () => {
    const { install } = await declare({ ...raw(), "qwen3-serve:hfToken": "hf_secretTokenValue123" }, "ws2");
    const installer = stdinText(install.stdin);
    assert.equal(
      installedFile(installer, "/etc/qwen3-serve/secrets.env"),
      `0600 API_KEY=${MOCK_API_KEY}\nHF_TOKEN=hf_secretTokenValue123\n`,
    );
    assert.ok(
      installer.indexOf("put '/etc/qwen3-serve/secrets.env'") <
        installer.indexOf("put '/etc/qwen3-serve/bootstrap.env'"),
      "secrets before the files that read them",
    );
    for (const c of [install.create, install.update ?? "", install.delete ?? ""]) {
      assert.ok(!c.includes(MOCK_API_KEY) && !c.includes("hf_secret"), c);
    }
    // The whole connection, private key included, is marked secret (the provider adds its dial defaults).
    assert.deepEqual(secretValue(install.connection), {
      host: "192.0.2.10",
      port: 22,
      user: "ubuntu",
      privateKey: SSH_KEY_TEXT,
      hostKey: `ssh-ed25519 ${EXAMPLE_KEY}`,
      dialErrorLimit: 10,
      perDialTimeout: 15,
    });
  });

  it("a changed model, port or idle window is an update in place (same trigger, new installer, same command); the same config changes nothing", async () => {
    const a = await declare(raw(), "ws3");
    const b = await declare(raw(), "ws3");
    const changes: Record<string, string>[] = [
      { "qwen3-serve:model": "Qwen3-14B" },
      { "qwen3-serve:idleMinutes": "90" },
      { "qwen3-serve:workstation": ws({ proxyPort: 9090, ramGiB: 64, user: "ubuntu" }) },
    ];
    assert.deepEqual(commandSteps(a.install, b.install, b.deleteBeforeReplace), []);
    for (const change of changes) {
      const c = await declare({ ...raw(), ...change }, "ws3");
      assert.deepEqual(
        commandSteps(a.install, c.install, c.deleteBeforeReplace).map((s) => `${s.kind}: ${s.command}`),
        ["update: sudo bash -s"],
        JSON.stringify(change),
      );
    }
    assert.deepEqual(a.install.triggers, ["ubuntu@192.0.2.10:22"]);
    assert.equal(a.install.create, "sudo bash -s");
    assert.equal(a.install.update, "sudo bash -s");
    assert.equal((a.install as unknown as { addPreviousOutputInEnv: boolean }).addPreviousOutputInEnv, false);
    assert.equal(
      a.install.delete,
      `sudo sh -c 'if [ -f "\${QS_ROOT:-}/usr/local/lib/qwen3-serve/uninstall.sh" ]; then bash "\${QS_ROOT:-}/usr/local/lib/qwen3-serve/uninstall.sh"; fi'`,
    );
    assert.equal(a.endpoint, "http://192.0.2.10:8080/v1");
  });

  it("another machine (host, port or user) replaces the install, uninstalling from the old one first", async () => {
    const a = await declare(raw(), "ws4");
    const moved = await declare(
      {
        ...raw(),
        "qwen3-serve:workstation": ws({ host: "192.0.2.11", hostKey: `192.0.2.11 ssh-ed25519 ${EXAMPLE_KEY}` }),
      },
      "ws4",
    );
    assert.equal(moved.deleteBeforeReplace, true);
    assert.deepEqual(moved.install.triggers, ["ubuntu@192.0.2.11:22"]);
    const steps = commandSteps(a.install, moved.install, moved.deleteBeforeReplace);
    assert.deepEqual(
      steps.map((s) => [s.kind, (secretValue(s.inputs.connection) as { host: string }).host]),
      [
        ["delete", "192.0.2.10"],
        ["create", "192.0.2.11"],
      ],
    );
  });

  it("fits the plan to the stated GPUs, stepping down what the stack left open, and says so", async () => {
    await useMocks();
    const warnings: string[] = [];
    const cfg = parseStackConfig(
      decodeConfigValues({
        ...raw(),
        "qwen3-serve:model": "Qwen3-8B",
        "qwen3-serve:workstation": ws({
          host: "h",
          hostKey: `h ssh-ed25519 ${EXAMPLE_KEY}`,
          gpus: { model: "RTX-4090", count: 1 },
        }),
      }),
    );
    const out = await deployStack(cfg, ctx("ws6", warnings));
    await resolveAll(out);
    assert.deepEqual([out.plan.quantization, out.plan.contextLength], ["bf16", 16384]);
    assert.deepEqual(warnings, [
      "Qwen3-8B as asked does not fit 1 x RTX-4090 (24.0 GiB each); serving context 16384 instead of 32768",
    ]);
  });

  it("refuses, with the reason, what no quantization or context fits", async () => {
    await useMocks();
    const cfg = parseStackConfig(
      decodeConfigValues({
        ...raw(),
        "qwen3-serve:model": "Qwen3-235B-A22B",
        "qwen3-serve:workstation": ws({ host: "h", hostKey: `h ssh-ed25519 ${EXAMPLE_KEY}` }),
      }),
    );
    await assert.rejects(
      deployStack(cfg, ctx("ws7")),
      (e: unknown) =>
        e instanceof UserError &&
        e.key === "workstation.gpus" &&
        /does not fit this machine as asked \(needs 248\.8 GiB per GPU at TP 2, has 24\.0\)/.test(e.problem),
    );
    assert.deepEqual(recorded, []);
  });

  it("exports the endpoint on the machine, the key as a secret, SSH commands, the described GPUs and a price of 0", async () => {
    await useMocks();
    const out = await deployStack(parseStackConfig(decodeConfigValues(raw())), ctx("ws8"));
    await resolveAll(out);
    const { plan: _plan, ...outputs } = out;
    const values = Object.fromEntries(
      await Promise.all(Object.entries(outputs).map(async ([k, o]) => [k, await outputValue<unknown>(o)] as const)),
    );
    assert.deepEqual(values, {
      endpoint: "http://192.0.2.10:8080/v1",
      modelName: "Qwen3-30B-A3B",
      apiKey: MOCK_API_KEY,
      instanceId: "ubuntu@192.0.2.10",
      publicIp: "192.0.2.10",
      instanceType: "workstation: 2 x RTX-4090",
      pricePerHour: 0,
      amiId: "n/a (existing machine)",
      connectCommand: "ssh -p 22 ubuntu@192.0.2.10",
      portForwardCommand: "ssh -p 22 -N -L 8080:127.0.0.1:8080 ubuntu@192.0.2.10",
      curlExample:
        `curl http://192.0.2.10:8080/v1/chat/completions -H "Authorization: Bearer $(pulumi stack output ` +
        `apiKey --show-secrets)" -H "Content-Type: application/json" -d '{"model": "Qwen3-30B-A3B", ` +
        `"messages": [{"role": "user", "content": "Hello"}]}'`,
      statusUrl: "http://192.0.2.10:8080/qwen3-serve/status",
    });
    assert.equal(await pulumi.isSecret(out.apiKey), true);
    assert.equal(await pulumi.isSecret(out.endpoint), false);
  });

  it("requires the SSH key, as a secret", () => {
    assert.throws(
      () => parseStackConfig(decodeConfigValues(stackFileConfig("workstation"))),
      /sshPrivateKey = "\(missing\)": the workstation target connects over SSH with a private key\./,
    );
  });
});

describe("workstation.hostKey validation", () => {
  const parse = (over: Record<string, unknown>): unknown =>
    parseStackConfig(
      decodeConfigValues({
        ...stackFileConfig("workstation"),
        "qwen3-serve:sshPrivateKey": SSH_KEY_TEXT,
        "qwen3-serve:workstation": JSON.stringify({
          host: "192.0.2.10",
          gpus: { model: "RTX-4090", count: 2 },
          ...over,
        }),
      }),
    );
  const refused = (over: Record<string, unknown>, problem: RegExp, hint: RegExp = /ssh-keyscan -t ed25519/): void => {
    assert.throws(
      () => parse(over),
      (e: unknown) =>
        e instanceof UserError && e.key === "workstation.hostKey" && problem.test(e.problem) && hint.test(e.hint),
      JSON.stringify(over),
    );
  };

  it("missing: a UserError naming the key and how to get it (ssh-keyscan -t ed25519)", () => {
    refused({}, /^missing: this setting is required\.$/, /`ssh-keyscan -t ed25519 <host>`/);
  });

  it("refuses a bare key, an RSA key, a line for another host or port, a mangled key and two lines", () => {
    refused(
      { hostKey: `ssh-ed25519 ${EXAMPLE_KEY}` },
      /is a bare public key; a known_hosts line starts with the host it belongs to\./,
    );
    refused(
      { hostKey: "192.0.2.10 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" },
      /is an RSA host key/,
      /`ssh-keyscan -t ed25519 <host>`/,
    );
    refused(
      { hostKey: `192.0.2.99 ssh-ed25519 ${EXAMPLE_KEY}` },
      /^is for 192\.0\.2\.99, not for 192\.0\.2\.10 \(workstation\.host and workstation\.port\)\.$/,
      /`ssh-keyscan -t ed25519 192\.0\.2\.10`/,
    );
    refused(
      { port: 2222, hostKey: `192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}` },
      /^is for 192\.0\.2\.10, not for \[192\.0\.2\.10\]:2222/,
      /`ssh-keyscan -t ed25519 -p 2222 192\.0\.2\.10`/,
    );
    refused(
      { hostKey: `192.0.2.10 ecdsa-sha2-nistp256 ${EXAMPLE_KEY}` },
      /its key is not a base64 ecdsa-sha2-nistp256 public key\./,
    );
    refused(
      { hostKey: `192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}\n192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}` },
      /holds more than one line/,
    );
    refused({ hostKey: "192.0.2.10 ssh-dss AAAAB3NzaC1kc3M" }, /has key type "ssh-dss"/);
  });

  it("accepts ssh-keyscan's forms: the host, [host]:port off 22, a hashed name, a trailing comment", () => {
    const keyOf = (over: Record<string, unknown>): unknown =>
      (parse(over) as { workstation: { hostKey: string } }).workstation.hostKey;
    assert.equal(keyOf({ hostKey: `192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}` }), `192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}`);
    assert.doesNotThrow(() => parse({ port: 2222, hostKey: `[192.0.2.10]:2222 ssh-ed25519 ${EXAMPLE_KEY}` }));
    assert.doesNotThrow(() => parse({ hostKey: `gpu-box,192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY} root@gpu-box` }));
    // `ssh-keygen -H` of the line "192.0.2.10 ...": salt and HMAC-SHA1 computed by OpenSSH, not by us.
    requireTool("ssh-keygen");
    const dir = mkdtempSync(path.join(os.tmpdir(), "qs-hostkey-"));
    try {
      writeFileSync(path.join(dir, "known_hosts"), `192.0.2.10 ssh-ed25519 ${EXAMPLE_KEY}\n`);
      execFileSync("ssh-keygen", ["-H", "-f", path.join(dir, "known_hosts")], { stdio: "ignore" });
      const hashed = readFileSync(path.join(dir, "known_hosts"), "utf8").trim();
      assert.match(hashed, /^\|1\|/);
      assert.doesNotThrow(() => parse({ hostKey: hashed }));
      refused({ host: "192.0.2.11", hostKey: hashed }, /^is for \|1\|/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Whoever runs the tests logs in to the loopback sshd: root in CI, or the developer. */
const USER = os.userInfo().username;

describe("the workstation flow over real SSH on loopback, as pulumi up runs it", () => {
  let dir: string;
  let sshd: ChildProcess;
  let sshPort: number;
  let sb: Sandbox;
  let scannedKey: string;
  let deployed: Declared;
  let proxyPort: number;
  /** The create attempted against the wrong host key, in before(). */
  let wrongKey: { code: number; out: string; wroteConfig: boolean };
  /** The first create, in before(). */
  let created: { code: number; out: string };

  const config = (over: Record<string, unknown> = {}, top: Record<string, string> = {}): Record<string, string> => ({
    "qwen3-serve:target": "workstation",
    "qwen3-serve:model": "qwen3:0.6b",
    "qwen3-serve:engine": "ollama",
    "qwen3-serve:sshPrivateKey": readFileSync(path.join(dir, "client"), "utf8"),
    "qwen3-serve:workstation": JSON.stringify({
      host: "127.0.0.1",
      port: sshPort,
      user: USER,
      proxyPort,
      gpus: { model: "RTX-4090", count: 1 },
      hostKey: scannedKey,
      ...over,
    }),
    ...top,
  });

  /**
   * Run one provider step over SSH: to the step's host and port, as its user, trusting only the
   * host key its connection carries (`StrictHostKeyChecking=yes`, nothing else known), as the
   * provider's fixed host key check does; its stdin piped in.
   */
  const run = (step: Step): { code: number; out: string } => {
    const c = secretValue(step.inputs.connection) as { host: string; port: number; user: string; hostKey: string };
    const known = path.join(dir, `known_hosts.${step.kind}`);
    writeFileSync(known, `[${c.host}]:${c.port} ${c.hostKey}\n`);
    const r = spawnSync(
      "ssh",
      [
        "-i",
        path.join(dir, "client"),
        "-p",
        String(c.port),
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        `UserKnownHostsFile=${known}`,
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        `${c.user}@${c.host}`,
        `env ${sb.envWords()} bash -c ${shellQuote(step.command)}`,
      ],
      { input: step.stdin === undefined ? "" : stdinText(step.stdin), encoding: "utf8", timeout: 180_000 },
    );
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
  };
  /** Replay `pulumi up` from the deployed state to a new declaration; every step must succeed. */
  const up = async (next: Declared): Promise<Step[]> => {
    const steps = commandSteps(deployed.install, next.install, next.deleteBeforeReplace);
    for (const step of steps) {
      const r = run(step);
      assert.equal(r.code, 0, `${step.kind}: ${r.out}`);
    }
    deployed = next;
    return steps;
  };
  /** One chat completion through the proxy on a fresh connection (nginx may have restarted since the last). */
  const post = (port: number, model: string, key?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
      const headers: Record<string, string> = {
        "content-type": "application/json",
        ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
      };
      const req = http.request(
        { host: "127.0.0.1", port, path: "/v1/chat/completions", method: "POST", headers, agent: false },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const answers = async (port: number, model: string): Promise<void> => {
    assert.equal(await post(port, model), 401);
    assert.equal(await post(port, model, MOCK_API_KEY), 200);
  };
  const engineStarts = (): number =>
    sb
      .calls()
      .filter(
        (c) =>
          c.cmd === "systemctl" &&
          /start|restart/.test(c.args[0] ?? "") &&
          c.args.includes("qwen3-serve-engine.service"),
      ).length;

  before(async () => {
    requireTool(["sshd", "ssh", "ssh-keygen", "ssh-keyscan"]);
    dir = mkdtempSync(path.join(os.tmpdir(), "qs-sshd-"));
    for (const k of ["host", "client", "other-host"])
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, k)]);
    writeFileSync(path.join(dir, "authorized_keys"), readFileSync(path.join(dir, "client.pub")));
    sshPort = await freePort();
    writeFileSync(
      path.join(dir, "sshd_config"),
      [
        `Port ${sshPort}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${dir}/host`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        `PidFile ${dir}/sshd.pid`,
        "",
      ].join("\n"),
    );
    // sshd run by root insists on its privilege-separation folder; run by a user it needs none.
    if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true });
    sshd = spawn(findTool("sshd") ?? "sshd", ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: "ignore" });
    // The host key line as a user gets it: ssh-keyscan against the running server.
    for (let i = 0; i < 100 && scannedKey === undefined; i++) {
      const scan = spawnSync("ssh-keyscan", ["-t", "ed25519", "-p", String(sshPort), "127.0.0.1"], {
        encoding: "utf8",
      });
      const line = scan.stdout.split("\n").find((l) => l.startsWith("["));
      if (line !== undefined) scannedKey = line.trim();
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(scannedKey, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshPort} ssh-ed25519 AAAA`));

    proxyPort = await freePort();
    // The sandbox supplies the stub commands, nginx's base config and the fake engine; the files
    // themselves come from the component's installer, over SSH.
    sb = await Sandbox.create({
      request: { model: "qwen3:0.6b", engine: "ollama" },
      secrets: "remote",
      gpus: { name: "NVIDIA GeForce RTX 4090", mib: 24564, cc: "8.9", count: 1 },
    });
    // The plan's own Ollama port: the installer's files come from the real program, so the fake
    // engine must listen where they point. A second suite on this machine would hold it too.
    await assertPortFree(11434, "the workstation flow's fake Ollama (the plan's own port)");
    sb.setEnv({ FAKE_ENGINE_PORT: "11434" });

    // Two first steps every test below builds on, so none depends on an earlier test: a create
    // against a machine whose host key is not the configured one, then the real create.
    const otherKey = readFileSync(path.join(dir, "other-host.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    const wrong = await declare(config({ hostKey: `[127.0.0.1]:${sshPort} ${otherKey}` }), "loopback");
    const [wrongStep] = commandSteps(null, wrong.install, wrong.deleteBeforeReplace);
    assert.ok(wrongStep);
    const refused = run(wrongStep);
    wrongKey = { ...refused, wroteConfig: existsSync(sb.p("etc/qwen3-serve")) };
    const first = await declare(config(), "loopback");
    const [createStep] = commandSteps(null, first.install, first.deleteBeforeReplace);
    assert.ok(createStep);
    created = run(createStep);
    assert.equal(created.code, 0, created.out);
    deployed = first;
  });

  after(() => {
    sb?.destroy();
    sshd?.kill();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("a machine with another host key than workstation.hostKey refuses the connection before the installer (and its secrets) is sent", () => {
    assert.equal(wrongKey.code, 255, wrongKey.out);
    assert.match(wrongKey.out, /Host key verification failed/);
    assert.equal(wrongKey.wroteConfig, false, "nothing written, secrets included");
  });

  it("create: the installer places the secrets file 0600 and the env file 0600, and the endpoint demands the key", async () => {
    assert.match(created.out, /qwen3-serve\[bootstrap\]: ready: qwen3:0\.6b-q4_K_M answers on port \d+/);
    const secrets = sb.p("etc/qwen3-serve/secrets.env");
    assert.equal((statSync(secrets).mode & 0o777).toString(8), "600");
    assert.equal(readFileSync(secrets, "utf8"), `API_KEY=${MOCK_API_KEY}\n`);
    assert.equal((statSync(sb.p("etc/qwen3-serve/bootstrap.env")).mode & 0o777).toString(8), "600");
    assert.equal(sb.status().state, "ready");
    await answers(proxyPort, "qwen3:0.6b-q4_K_M");
  });

  it("the same config again runs nothing, and running the installer again changes nothing", async () => {
    assert.deepEqual(await up(await declare(config(), "loopback")), []);
    const before = sb.calls().length;
    const r = run({
      kind: "update",
      inputs: deployed.install,
      command: deployed.install.update ?? "",
      stdin: deployed.install.stdin,
    });
    assert.equal(r.code, 0, r.out);
    const mutating = sb
      .calls()
      .slice(before)
      .filter(
        (c) =>
          (c.cmd === "docker" && ["pull", "run"].includes(c.args[0] ?? "")) ||
          c.cmd === "apt-get" ||
          (c.cmd === "systemctl" && /start|restart|reload/.test(c.args[0] ?? "")),
      );
    assert.deepEqual(mutating, []);
    assert.equal(sb.count("pull"), 1, "the model was pulled once");
  });

  it("a changed idle window: one in-place update; the env file has the new window, the endpoint answers, the engine never restarted", async () => {
    const starts = engineStarts();
    const steps = await up(await declare(config({}, { "qwen3-serve:idleMinutes": "45" }), "loopback"));
    assert.deepEqual(
      steps.map((s) => s.kind),
      ["update"],
    );
    assert.match(readFileSync(sb.p("etc/qwen3-serve/bootstrap.env"), "utf8"), /^IDLE_MINUTES='45'$/m);
    await answers(proxyPort, "qwen3:0.6b-q4_K_M");
    assert.equal(engineStarts(), starts, "a healthy engine kept running");
  });

  it(
    "a changed proxy port: one in-place update; the endpoint answers on the new port with the same " +
      "key, and no longer on the old one; the engine kept running",
    async () => {
      const starts = engineStarts();
      const newPort = await freePort();
      const steps = await up(
        await declare(config({ proxyPort: newPort }, { "qwen3-serve:idleMinutes": "45" }), "loopback"),
      );
      assert.deepEqual(
        steps.map((s) => s.kind),
        ["update"],
      );
      await answers(newPort, "qwen3:0.6b-q4_K_M");
      await assert.rejects(post(proxyPort, "qwen3:0.6b-q4_K_M", MOCK_API_KEY), /ECONNREFUSED/);
      assert.equal(engineStarts(), starts, "the proxy port is not the engine's: no model reload");
      proxyPort = newPort;
    },
  );

  it("a changed model: one in-place update; the endpoint serves the new model", async () => {
    const steps = await up(await declare(config({}, { "qwen3-serve:model": "qwen3:1.7b" }), "loopback"));
    assert.deepEqual(
      steps.map((s) => s.kind),
      ["update"],
    );
    await answers(proxyPort, "qwen3:1.7b-q4_K_M");
    assert.equal(sb.status().state, "ready");
  });

  it("another address for the same machine: uninstall, then install (delete before replace); the endpoint comes back with its secrets", async () => {
    const hostKey = readFileSync(path.join(dir, "host.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    const moved = await declare(
      config(
        { host: "localhost", hostKey: `[localhost]:${sshPort} ${hostKey}` },
        { "qwen3-serve:model": "qwen3:1.7b" },
      ),
      "loopback",
    );
    const steps = await up(moved);
    assert.deepEqual(
      steps.map((s) => s.kind),
      ["delete", "create"],
    );
    assert.equal(readFileSync(sb.p("etc/qwen3-serve/secrets.env"), "utf8"), `API_KEY=${MOCK_API_KEY}\n`);
    assert.equal(sb.status().state, "ready");
    await answers(proxyPort, "qwen3:1.7b-q4_K_M");
  });

  it("destroy removes units, proxy config, scripts and secrets, and keeps the weights", () => {
    const del: Step = {
      kind: "delete",
      inputs: deployed.install,
      command: deployed.install.delete ?? "",
      stdin: deployed.install.stdin,
    };
    const r = run(del);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /weights kept/);
    for (const gone of [
      "etc/systemd/system/qwen3-serve-engine.service",
      "etc/systemd/system/qwen3-serve-bootstrap.service",
      "etc/systemd/system/qwen3-serve-idle.timer",
      "etc/systemd/system/qwen3-serve-idle.service",
      "etc/logrotate.d/qwen3-serve",
      "etc/nginx/conf.d/qwen3-serve.conf",
      "etc/qwen3-serve",
      "usr/local/lib/qwen3-serve",
    ]) {
      assert.equal(existsSync(sb.p(gone)), false, gone);
    }
    assert.ok(existsSync(sb.p("var/lib/qwen3-serve/ollama/models/manifests")), "weights stay");
    // Running it again finds nothing to do and still succeeds.
    assert.equal(run(del).code, 0);
  });
});
