/**
 * A throwaway machine for running the real bootstrap scripts: a temp root (QS_ROOT), stub
 * nvidia-smi/apt-get/dpkg/systemctl/journalctl/docker/hf/aws on PATH (test/fixtures/sandbox-stub.js), a fake engine
 * on loopback (test/fixtures/fake-engine.js) and the distribution's real nginx as the proxy.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  renderInstallScript,
  type FleetMachine,
  type IdleSettings,
  type MachineFile,
  type MachineSettings,
} from "../../components/machine/render";
import { buildPlan, type Plan } from "../../components/sizing/plan";
import { parsePlanRequest, type PlanRequestInput } from "../../components/sizing/request";
import { idleScriptSsm, machineFiles, type IdleScriptSsm } from "../../components/machine/assets";
import type { WeightsMirror } from "../../components/mirror/keys";
import { requireTool } from "./tools";

const FIXTURES = path.resolve(__dirname, "..", "fixtures");
const STUBS = [
  "nvidia-smi",
  "apt-get",
  "dpkg",
  "systemctl",
  "journalctl",
  "docker",
  "hf",
  "aws",
  "nvidia-ctk",
  "gpg",
  "certbot",
  "who",
];

/** A machine's PATH after the stubs: where the real nginx, python3 and curl are found. */
const MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The API key the sandbox's secrets source holds: 48 letters and digits, the shape the targets generate. */
export const SANDBOX_API_KEY = "SandboxKey0123456789abcdefghijklmnopqrstuvwxyzAB";

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr !== null ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Result of one script run. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for a sandbox machine. */
export interface SandboxOptions {
  readonly request: PlanRequestInput;
  /** Whether the NVIDIA driver works from the start (the Deep Learning AMI) or must be installed. */
  readonly driverPresent?: boolean;
  readonly driverPolicy?: "install" | "require";
  /** Driver version nvidia-smi reports (580.105.08 when absent). */
  readonly driverVersion?: string;
  /** GPUs nvidia-smi reports: name, MiB, compute capability. */
  readonly gpus?: { name: string; mib: number; cc: string; count: number };
  /** Where secrets come from; SSM values are preloaded into the aws stub; "remote": a file the test writes itself. */
  readonly secrets?: "ssm" | "file" | "remote";
  /** Mode of the secrets file, for the file source. */
  readonly secretsFileMode?: number;
  /** Serve HTTPS for this name (certbot is stubbed with a self-signed certificate). */
  readonly tlsDomain?: string;
  /** Env-file values to override after rendering, e.g. a tiny WEIGHTS_EXPECTED_BYTES. */
  readonly envFile?: Readonly<Record<string, string>>;
  /** The idle watchdog's settings (off when absent). */
  readonly idle?: IdleSettings;
  /** As the AWS target ships it: idle.py left out of the installed files, its chunks in the fake SSM for the secrets phase (SSM secrets only). */
  readonly idleFromSsm?: boolean;
  /** A fleet replica: the readiness path on the proxy, the watchdog's queue metric and scale-in protection. */
  readonly fleet?: FleetMachine;
  /** The S3 weights mirror; its bucket exists (empty) in the fake S3. */
  readonly weightsMirror?: WeightsMirror;
  /** Another sandbox's fake-state folder whose fake S3 (objects and metadata) this machine shares, as a second machine in the same account would. */
  readonly sharedS3?: string;
  /**
   * Whether the host has its own `aws` (the Deep Learning AMI; true when absent). False: no `aws` on PATH, as on
   * plain Ubuntu, so every AWS call goes through `docker run` of the pinned CLI image (lib.sh aws_cli).
   */
  readonly hostAws?: boolean;
}

/** A sandboxed machine with the bootstrap installed by the rendered SSH installer. */
export class Sandbox {
  readonly root: string;
  readonly state: string;
  readonly bin: string;
  readonly plan: Plan;
  readonly files: MachineFile[];
  readonly installer: string;
  /** idle.py's chunk parameters in the fake SSM, with `idleFromSsm`. */
  readonly idleSsm: IdleScriptSsm | undefined;
  private env: Record<string, string>;

  private constructor(
    root: string,
    plan: Plan,
    files: MachineFile[],
    env: Record<string, string>,
    idleSsm: IdleScriptSsm | undefined,
  ) {
    this.root = root;
    this.state = path.join(root, "fake");
    this.bin = path.join(root, "fake-bin");
    this.plan = plan;
    this.files = files;
    this.installer = renderInstallScript(files);
    this.env = env;
    this.idleSsm = idleSsm;
  }

  /** Build the sandbox: plan, rendered files (ports moved to free ones), stubs, nginx base config. */
  static async create(opts: SandboxOptions): Promise<Sandbox> {
    // The machine side runs these for real; the certbot stub makes its certificate with openssl.
    requireTool(
      ["nginx", "python3", "curl", ...(opts.tlsDomain !== undefined ? (["openssl"] as const) : [])],
      MACHINE_PATH,
    );
    const root = mkdtempSync(path.join(os.tmpdir(), "qs-sandbox-"));
    chmodSync(root, 0o755); // nginx workers must traverse to the status file, as on a real host
    const state = path.join(root, "fake");
    const bin = path.join(root, "fake-bin");
    mkdirSync(state, { recursive: true });
    mkdirSync(bin, { recursive: true });
    for (const s of STUBS.filter((n) => n !== "aws" || opts.hostAws !== false))
      symlinkSync(path.join(FIXTURES, "sandbox-stub.js"), path.join(bin, s));
    // A test run by a user reaches `sudo` (the workstation commands); the real one would reset the
    // environment, lose QS_ROOT and write to the real /etc. This one runs the command as is.
    writeFileSync(path.join(bin, "sudo"), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });

    const plan = buildPlan(parsePlanRequest(opts.request));
    const proxyPort = await freePort();
    const enginePort = await freePort();
    const secretsPath = "/etc/qwen3-serve/secrets.env";
    if (opts.idleFromSsm === true && (opts.secrets ?? "ssm") !== "ssm")
      throw new Error("idleFromSsm needs SSM secrets");
    const idleSsm =
      opts.idleFromSsm === true
        ? idleScriptSsm("/qwen3-serve/sandbox", { mirror: opts.weightsMirror !== undefined })
        : undefined;
    const settings: MachineSettings = {
      secrets:
        (opts.secrets ?? "ssm") === "ssm"
          ? {
              source: "ssm",
              region: "us-east-1",
              apiKeyParameter: "/qwen3-serve/sandbox/api-key",
              hfTokenParameter: "/qwen3-serve/sandbox/hf-token",
            }
          : { source: "file", path: secretsPath },
      proxyPort,
      driver: opts.driverPolicy ?? "require",
      ...(opts.tlsDomain !== undefined ? { tls: { domain: opts.tlsDomain, email: "ops@example.test" } } : {}),
      ...(opts.idle !== undefined ? { idle: opts.idle } : {}),
      ...(idleSsm !== undefined ? { idleFromSsm: { parameters: idleSsm.parameters, sha256: idleSsm.sha256 } } : {}),
      ...(opts.fleet !== undefined ? { fleet: opts.fleet } : {}),
      ...(opts.weightsMirror !== undefined ? { weightsMirror: opts.weightsMirror } : {}),
    };
    // The engine's argv keeps the plan's port; the fake engine listens where ENGINE_PORT says instead,
    // so sandboxes in parallel test files never collide.
    const overrides: Record<string, string> = { ENGINE_PORT: String(enginePort), ...(opts.envFile ?? {}) };
    const patch = (content: string): string =>
      Object.entries(overrides).reduce((c, [k, v]) => c.replace(new RegExp(`^${k}=.*$`, "m"), `${k}='${v}'`), content);
    const files = machineFiles(plan, settings).map((f) =>
      f.path.endsWith("/bootstrap.env") ? { ...f, content: patch(f.content) } : f,
    );

    const gpus = opts.gpus ?? { name: "NVIDIA L40S", mib: 46068, cc: "8.9", count: plan.gpusUsed };
    writeFileSync(
      path.join(state, "gpus.csv"),
      Array.from(
        { length: gpus.count },
        () => `${gpus.name}, ${gpus.mib}, ${gpus.cc}, ${opts.driverVersion ?? "580.105.08"}\n`,
      ).join(""),
    );
    if (opts.driverPresent ?? true) writeFileSync(path.join(state, "driver"), "1");
    mkdirSync(path.join(state, "ssm"), { recursive: true });
    writeFileSync(path.join(state, "ssm", encodeURIComponent("/qwen3-serve/sandbox/api-key")), SANDBOX_API_KEY);
    writeFileSync(path.join(state, "ssm", encodeURIComponent("/qwen3-serve/sandbox/hf-token")), "hf_sandboxTokenValue");
    for (const v of idleSsm?.values ?? []) writeFileSync(path.join(state, "ssm", encodeURIComponent(v.name)), v.value);
    if (opts.secrets === "file") {
      const p = path.join(root, secretsPath);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, `API_KEY=${SANDBOX_API_KEY}\nHF_TOKEN=hf_sandboxTokenValue\n`);
      chmodSync(p, opts.secretsFileMode ?? 0o600);
    }

    for (const d of ["s3", "s3-meta"]) {
      if (opts.sharedS3 !== undefined) symlinkSync(path.join(opts.sharedS3, d), path.join(state, d));
      else mkdirSync(path.join(state, d), { recursive: true });
    }
    if (opts.weightsMirror !== undefined)
      mkdirSync(path.join(state, "s3", opts.weightsMirror.bucket), { recursive: true });
    for (const d of ["run", "var/log/nginx", "var/lib/nginx", "etc/nginx/conf.d"])
      mkdirSync(path.join(root, d), { recursive: true });
    const tmp = (n: string): string => path.join(root, "var/lib/nginx", n);
    writeFileSync(
      path.join(root, "etc/nginx/nginx.conf"),
      [
        `pid ${root}/run/nginx.pid;`,
        `error_log ${root}/var/log/nginx/error.log;`,
        "worker_processes 1;",
        "events { worker_connections 64; }",
        "http {",
        `  client_body_temp_path ${tmp("body")}; proxy_temp_path ${tmp("proxy")}; fastcgi_temp_path ${tmp("fastcgi")};`,
        `  uwsgi_temp_path ${tmp("uwsgi")}; scgi_temp_path ${tmp("scgi")};`,
        "  access_log off;",
        `  include ${root}/etc/nginx/conf.d/*.conf;`,
        "}",
        "",
      ].join("\n"),
    );

    const env: Record<string, string> = {
      // A machine's PATH (the stubs first), plus node's own folder for the stubs' shebang.
      PATH: `${bin}:${MACHINE_PATH}:${path.dirname(process.execPath)}`,
      HOME: root,
      QS_ROOT: root,
      FAKE_STATE: state,
      FAKE_ENGINE_PORT: String(enginePort),
      RETRY_ATTEMPTS: "3",
      RETRY_BASE_SECONDS: "0",
      POLL_SECONDS: "0.2",
      PROGRESS_INTERVAL_SECONDS: "0.2",
      LOAD_TIMEOUT_SECONDS: "20",
      READY_TIMEOUT_SECONDS: "20",
      LOCK_WAIT_SECONDS: "5",
      ACME_HTTP_PORT: String(await freePort()),
    };
    const sb = new Sandbox(root, plan, files, env, idleSsm);
    writeFileSync(path.join(root, "install.sh"), sb.installer, { mode: 0o755 });
    return sb;
  }

  /** Extra environment for the next runs (failure injection, timeouts). */
  setEnv(extra: Record<string, string>): void {
    this.env = { ...this.env, ...extra };
  }

  /** The sandbox environment as `env K=V ...` words for a remote shell, each quoted. */
  envWords(): string {
    return Object.entries(this.env)
      .map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'`)
      .join(" ");
  }

  /** Run a command inside the sandbox's environment. */
  run(argv: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn(argv[0] ?? "bash", argv.slice(1), { env: this.env, cwd: this.root });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Run the rendered SSH installer, which places the files and runs the bootstrap. */
  install(): Promise<RunResult> {
    return this.run(["bash", path.join(this.root, "install.sh")]);
  }

  /** Place the rendered files as the installer does, without running the bootstrap. */
  place(): void {
    for (const f of this.files) {
      const p = this.p(f.path);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, f.content, { mode: Number.parseInt(f.mode, 8) });
    }
  }

  /** Run one bootstrap phase on its own (after {@link place}), as bootstrap.sh runs it: 0 done, 20 skipped. */
  step(phase: string): Promise<RunResult> {
    const lib = this.p("usr/local/lib/qwen3-serve");
    return this.run(["env", `QS_LIB=${lib}`, `QS_PHASE=${phase}`, "bash", path.join(lib, "steps", `${phase}.sh`)]);
  }

  /** Run the installed bootstrap again, as the boot unit would. */
  bootstrap(): Promise<RunResult> {
    return this.run(["bash", path.join(this.root, "usr/local/lib/qwen3-serve/bootstrap.sh")]);
  }

  /** A path inside the sandbox root. */
  p(rel: string): string {
    return path.join(this.root, rel);
  }

  /** The status document. */
  status(): StatusDoc {
    return JSON.parse(readFileSync(this.p("var/lib/qwen3-serve/status.json"), "utf8")) as StatusDoc;
  }

  /** Every stub call so far. */
  calls(): { cmd: string; args: string[] }[] {
    const f = path.join(this.state, "calls.log");
    if (!existsSync(f)) return [];
    return readFileSync(f, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { cmd: string; args: string[] });
  }

  /** A counter the stubs keep (hf downloads, completions, pulls). */
  count(name: string): number {
    const f = path.join(this.state, `${name}.count`);
    return existsSync(f) ? Number(readFileSync(f, "utf8")) : 0;
  }

  /** The engine's port on the host's loopback (the sandbox's ENGINE_PORT). */
  get enginePort(): number {
    const env = this.files.find((f) => f.path.endsWith("/bootstrap.env"));
    return Number(/^ENGINE_PORT='(\d+)'$/m.exec(env?.content ?? "")?.[1]);
  }

  /** Public proxy port. */
  get proxyPort(): number {
    const env = this.files.find((f) => f.path.endsWith("/bootstrap.env"));
    return Number(/^PROXY_PORT='(\d+)'$/m.exec(env?.content ?? "")?.[1]);
  }

  /** Simulate a reboot: units' processes die; the driver installed before it now loads. */
  reboot(): void {
    this.stopUnits();
    if (existsSync(path.join(this.state, "driver-pending"))) writeFileSync(path.join(this.state, "driver"), "1");
  }

  /** Start what systemd would start at boot: the enabled engine and proxy units. */
  async boot(): Promise<void> {
    for (const unit of ["nginx", "qwen3-serve-engine.service"]) {
      const r = await this.run(["systemctl", "start", unit]);
      if (r.code !== 0) throw new Error(`boot: starting ${unit} failed: ${r.stderr}`);
    }
  }

  /** Stop the engine and nginx processes the stubs started. */
  stopUnits(): void {
    for (const unit of ["qwen3-serve-engine.service", "nginx.service"]) {
      spawnSync("systemctl", ["stop", unit], { env: this.env, cwd: this.root });
    }
  }

  /** Stop processes and delete the sandbox. */
  destroy(): void {
    this.stopUnits();
    // Retries: a unit's last writes may still land while the tree goes.
    rmSync(this.root, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** The parts of status.json the tests read. */
export interface StatusDoc {
  state: "running" | "ready" | "failed" | "rebooting";
  run: number;
  phase: string | null;
  phases: Record<string, { state: string; seconds: number; detail?: string }>;
  order: string[];
  error: { phase: string; reason: string } | null;
  progress: { percent: number; detail: string } | null;
  versions?: Record<string, string>;
  machine?: Record<string, string>;
  coldStart?: { phases: Record<string, { state: string; seconds: number }> };
}

/** HTTP request to the sandbox proxy; returns status and body. */
export async function request(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method: init.method ?? "GET", body: init.body ?? null, headers: init.headers ?? {} });
  return { status: res.status, body: await res.text() };
}
