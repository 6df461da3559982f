/**
 * `qwen3-serve:workstation:Server`: the same endpoint on a Linux GPU box you already own, reached
 * over SSH. Uploads the secrets (stdin, root-only file), then the bootstrap installer (stdin), and
 * runs it in the foreground so `pulumi up` shows each phase and ends when the endpoint answers.
 * Re-runs only when the rendered installer changes; `pulumi destroy` uninstalls, keeping weights.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import { renderInstallScript, secretsFileContent, SECRETS_FILE, STATUS_URL_PATH, workstationCommands, type IdleSettings } from "../core/bootstrap";
import type { Plan } from "../core/plan";
import { machineFiles } from "../machine";
import { curlExample, targetOutputsOf, type TargetOutputs } from "../targetOutputs";

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
  /** sha256 of the installer: the trigger that re-runs the bootstrap when the plan or versions change. */
  readonly installerHash: string;

  constructor(name: string, args: WorkstationServerArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("qwen3-serve:workstation:Server", name, {}, opts);
    const parent = { parent: this };
    const { plan } = args;
    const commands = workstationCommands(args.user, args.purgeWeightsOnDestroy);
    const connection = { host: args.host, port: args.port, user: args.user, privateKey: pulumi.secret(args.privateKey) };

    const key = new random.RandomPassword(`${name}-api-key`, { length: 48, special: false }, parent);
    const secrets = new command.remote.Command(
      `${name}-secrets`,
      {
        connection,
        create: commands.secrets,
        // The key and token go in on stdin: never on a command line, never in a script.
        stdin: pulumi.secret(
          pulumi.all([key.result, args.hfToken ?? pulumi.output("")]).apply(([k, hf]) => secretsFileContent(k, hf === "" ? undefined : hf)),
        ),
        logging: "stderr",
      },
      parent,
    );

    const installer = renderInstallScript(
      machineFiles(plan, { secrets: { source: "file", path: SECRETS_FILE }, proxyPort: args.proxyPort, driver: "require", idle: args.idle, uninstallable: true }),
    );
    this.installerHash = createHash("sha256").update(installer).digest("hex");
    const install = new command.remote.Command(
      `${name}-install`,
      {
        connection,
        create: commands.install,
        stdin: installer,
        delete: commands.uninstall,
        // Same installer, same hash: an unchanged stack runs nothing on `pulumi up`.
        triggers: [this.installerHash],
        logging: "stdoutAndStderr",
      },
      // Uninstall the old version before installing the new, never the other way round.
      { parent: this, dependsOn: [secrets], deleteBeforeReplace: true },
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
    this.portForwardCommand = pulumi.output(`ssh -p ${args.port} -N -L ${args.proxyPort}:127.0.0.1:${args.proxyPort} ${args.user}@${args.host}`);
    this.curlExample = this.endpoint.apply((e) => curlExample(e, plan.serve.servedModelName));
    this.statusUrl = pulumi.output(`${base}${STATUS_URL_PATH}`);
    this.registerOutputs(targetOutputsOf(this));
  }
}
