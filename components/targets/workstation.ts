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
import { declareApiKey } from "./apiKey";
import { planGpus, targetOutputs, targetOutputsOf, TargetServer } from "./outputs";

/** Inputs of {@link WorkstationServer}. */
export interface WorkstationServerArgs {
  /** The plan, fitted to this machine's GPUs. */
  readonly plan: Plan;
  /** Host name or IP, for SSH and in the endpoint URL. */
  readonly host: string;
  /** SSH port; default 22. */
  readonly port?: number;
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
  /** What describes the GPUs in outputs; default the plan's, e.g. "2 x RTX-4090". */
  readonly gpuDescription?: string;
  /** The idle watchdog: it stops the engine, never the machine. */
  readonly idle: IdleSettings;
}

/**
 * An existing GPU workstation serving a Qwen3 model behind an authenticated OpenAI-compatible endpoint.
 *
 * Outputs: `instanceId` is user@host, `publicIp` the machine's host name or IP, `instanceType` "workstation: <GPUs>",
 * `pricePerHour` 0 (the machine is yours), `amiId` "n/a", and the commands are `ssh` and `ssh -L`.
 */
export class WorkstationServer extends TargetServer {
  /** sha256 of the installer without the secrets: it changes exactly when a `pulumi up` re-runs the bootstrap. */
  readonly installerHash: string;

  constructor(name: string, args: WorkstationServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const port = args.port ?? 22;
    // Checked here, before anything is declared; the SSH handshake then refuses a machine with another key.
    const hostKey = connectionHostKey(args.hostKey, args.host, port);
    super("qwen3-serve:workstation:Server", name, {}, opts);
    const { plan } = args;
    const commands = workstationCommands(args.user, args.purgeWeightsOnDestroy);
    const connection = {
      host: args.host,
      port,
      user: args.user,
      privateKey: pulumi.secret(args.privateKey),
      hostKey,
    };

    const key = declareApiKey(name, this);
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
        .all([key, args.hfToken ?? pulumi.output("")])
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
        triggers: [`${args.user}@${args.host}:${port}`],
        logging: "stdoutAndStderr",
        // The last run's whole log would go out as SSH env requests that sshd refuses (a warning
        // every update); nothing here reads it (remote/commandOutputs.go, run).
        addPreviousOutputInEnv: false,
      },
      { parent: this, deleteBeforeReplace: true },
    );

    const base = `http://${args.host}:${args.proxyPort}`;
    const outputs = targetOutputs({
      baseUrl: base,
      // The installer ends with a real completion through the proxy, so its success means ready.
      readyWhen: install.stdout,
      modelName: plan.serve.servedModelName,
      apiKey: key,
      instanceId: `${args.user}@${args.host}`,
      publicIp: args.host,
      instanceType: `workstation: ${args.gpuDescription ?? planGpus(plan)}`,
      pricePerHour: 0,
      amiId: "n/a (existing machine)",
      connectCommand: `ssh -p ${port} ${args.user}@${args.host}`,
      portForwardCommand: `ssh -p ${port} -N -L ${args.proxyPort}:127.0.0.1:${args.proxyPort} ${args.user}@${args.host}`,
      statusUrl: `${base}${STATUS_URL_PATH}`,
    });
    this.finish(outputs);
  }
}

// ---------------------------------------------------------------------------------------------
// The workstation target module (listed in components/targets/registry.ts): how a `workstation` stack
// config plans and what it declares. Kept apart from the component above, which takes a plan and
// knows no config.
// ---------------------------------------------------------------------------------------------

import type { WorkstationStackConfig } from "../config/schema";
import type { DeclaredOutputs, Target } from "./target";
import { describeGpus, hfTokenArg, idleSettings, machineGpus, planOnMachine, type StackContext } from "./stackContext";

/** Plan onto the workstation's described GPUs (and RAM), stepping unset quantization or context down to fit. */
function planWorkstation(config: WorkstationStackConfig, warn?: (message: string) => void): Plan {
  const ws = config.workstation;
  return planOnMachine(config, machineGpus(ws.gpus, ws.ramGiB), "workstation.gpus", warn);
}

/** Declare the workstation stack: one {@link WorkstationServer}. */
async function declareWorkstation(
  config: WorkstationStackConfig,
  plan: Plan,
  ctx: StackContext,
): Promise<DeclaredOutputs> {
  const ws = config.workstation;
  const server = new WorkstationServer(ctx.stack, {
    plan,
    host: ws.host,
    port: ws.port,
    user: ws.user,
    privateKey: pulumi.secret(config.sshPrivateKey),
    hostKey: ws.hostKey,
    proxyPort: ws.proxyPort,
    purgeWeightsOnDestroy: ws.purgeWeightsOnDestroy,
    gpuDescription: describeGpus(machineGpus(ws.gpus, ws.ramGiB)),
    idle: idleSettings(config, "stop-engine"),
    ...hfTokenArg(config),
  });
  return targetOutputsOf(server);
}

/** The workstation target: plans onto the machine's described GPUs, declares one {@link WorkstationServer}. */
export const workstationTarget: Target<WorkstationStackConfig> = { plan: planWorkstation, declare: declareWorkstation };
