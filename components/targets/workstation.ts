/**
 * `qwen3-serve:workstation:Server`: the same endpoint on a Linux GPU box you already own, reached
 * over SSH after checking the machine's host key. One command pipes the bootstrap installer, with
 * the root-only secrets file in it, into `bash -s` and runs it in the foreground, so `pulumi up`
 * shows each phase and ends when the endpoint answers. A changed plan or setting re-runs the
 * installer in place (an update, never an uninstall); `pulumi destroy` uninstalls, keeping weights.
 *
 * Why one command: @pulumi/command replaces a Command whose `triggers` change, and runs the old
 * `delete` before the new `create` under deleteBeforeReplace. A separate secrets step did not run
 * again on such a replace while the old delete (uninstall.sh) removed its file, so the new install
 * failed at the secrets phase. With the secrets inside the installer, every create and update
 * brings them, whatever ran before. (pulumi-command v1.2.1: provider/pkg/provider/common/inputs.go,
 * `triggers` is replaceOnChanges; remote/commandController.go, Update runs `update`, else `create`,
 * with the new inputs; Delete runs the old state's `delete`; read 2026-11-30.)
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import {
  renderInstallScript,
  secretsMachineFile,
  SECRETS_FILE,
  STATUS_URL_PATH,
  workstationCommands,
  type IdleSettings,
} from "../machine/render";
import { connectionHostKey } from "../config/hostKey";
import type { Plan } from "../sizing/plan";
import { machineFiles } from "../machine/assets";
import { curlExample, targetOutputsOf, type TargetOutputs } from "./outputs";

/** Inputs of {@link WorkstationServer}. */
export interface WorkstationServerArgs {
  /** The plan, fitted to this machine's GPUs. */
  readonly plan: Plan;
  /** Host name or IP, for SSH and in the endpoint URL. */
  readonly host: string;
  readonly port: number;
  /** root, or a user with passwordless sudo. */
  readonly user: string;
  /** SSH private key (secret). */
  readonly privateKey: pulumi.Input<string>;
  /** The machine's SSH host key as a known_hosts line; the connection refuses any other. */
  readonly hostKey: string;
  /** Public port of the authenticating proxy. */
  readonly proxyPort: number;
  /** Hugging Face token for gated repos (secret). */
  readonly hfToken?: pulumi.Input<string>;
  /** Delete downloaded weights on destroy. */
  readonly purgeWeightsOnDestroy: boolean;
  /** What describes the GPUs in outputs, e.g. "2 x RTX-4090". */
  readonly gpuDescription: string;
  /** The idle watchdog: it stops the engine, never the machine. */
  readonly idle: IdleSettings;
}

/** An existing GPU workstation serving a Qwen3 model behind an authenticated OpenAI-compatible endpoint. */
export class WorkstationServer extends pulumi.ComponentResource implements TargetOutputs {
  readonly endpoint: pulumi.Output<string>;
  readonly modelName: pulumi.Output<string>;
  readonly apiKey: pulumi.Output<string>;
  readonly instanceId: pulumi.Output<string>;
  readonly publicIp: pulumi.Output<string>;
  readonly instanceType: pulumi.Output<string>;
  readonly pricePerHour: pulumi.Output<number>;
  readonly amiId: pulumi.Output<string>;
  readonly connectCommand: pulumi.Output<string>;
  readonly portForwardCommand: pulumi.Output<string>;
  readonly curlExample: pulumi.Output<string>;
  readonly statusUrl: pulumi.Output<string>;
  /** sha256 of the installer without the secrets: it changes exactly when a `pulumi up` re-runs the bootstrap. */
  readonly installerHash: string;

  constructor(name: string, args: WorkstationServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:workstation:Server", name, {}, opts);
    const parent = { parent: this };
    const { plan } = args;
    const commands = workstationCommands(args.user, args.purgeWeightsOnDestroy);
    const connection = {
      host: args.host,
      port: args.port,
      user: args.user,
      privateKey: pulumi.secret(args.privateKey),
      // Checked in the SSH handshake, before authentication: a machine with another key gets nothing.
      hostKey: connectionHostKey(args.hostKey, args.host, args.port),
    };

    const key = new random.RandomPassword(`${name}-api-key`, { length: 48, special: false }, parent);
    const files = machineFiles(plan, {
      secrets: { source: "file", path: SECRETS_FILE },
      proxyPort: args.proxyPort,
      driver: "require",
      idle: args.idle,
      uninstallable: true,
    });
    this.installerHash = createHash("sha256").update(renderInstallScript(files)).digest("hex");
    // The key and token go in on stdin, inside the installer: never on a command line or in state unmarked.
    const stdin = pulumi.secret(
      pulumi
        .all([key.result, args.hfToken ?? pulumi.output("")])
        .apply(([k, hf]) => renderInstallScript([secretsMachineFile(k, hf === "" ? undefined : hf), ...files])),
    );
    const install = new command.remote.Command(
      `${name}-install`,
      {
        connection,
        create: commands.install,
        // A changed installer (plan, port, idle window, token) is an update: the same installer run
        // again in place, which keeps a healthy engine; an unchanged one runs nothing.
        update: commands.install,
        stdin,
        delete: commands.uninstall,
        // Another machine is a replacement: uninstall from the old one (its own connection, kept in
        // state), then install on the new.
        triggers: [`${args.user}@${args.host}:${args.port}`],
        logging: "stdoutAndStderr",
        // The last run's whole log would go out as SSH env requests that sshd refuses (a warning
        // every update); nothing here reads it (remote/commandOutputs.go, run).
        addPreviousOutputInEnv: false,
      },
      { parent: this, deleteBeforeReplace: true },
    );

    const base = `http://${args.host}:${args.proxyPort}`;
    // The installer ends with a real completion through the proxy, so its success means ready.
    this.endpoint = install.stdout.apply(() => `${base}/v1`);
    this.modelName = pulumi.output(plan.serve.servedModelName);
    this.apiKey = pulumi.secret(key.result);
    this.instanceId = pulumi.output(`${args.user}@${args.host}`);
    this.publicIp = pulumi.output(args.host);
    this.instanceType = pulumi.output(`workstation: ${args.gpuDescription}`);
    this.pricePerHour = pulumi.output(0);
    this.amiId = pulumi.output("n/a (existing machine)");
    this.connectCommand = pulumi.output(`ssh -p ${args.port} ${args.user}@${args.host}`);
    this.portForwardCommand = pulumi.output(
      `ssh -p ${args.port} -N -L ${args.proxyPort}:127.0.0.1:${args.proxyPort} ${args.user}@${args.host}`,
    );
    this.curlExample = this.endpoint.apply((e) => curlExample(e, plan.serve.servedModelName));
    this.statusUrl = pulumi.output(`${base}${STATUS_URL_PATH}`);
    this.registerOutputs(targetOutputsOf(this));
  }
}
