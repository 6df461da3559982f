/**
 * The library's public surface: what another Pulumi program imports from `qwen3-serve/components`
 * (the built package maps that subpath to this module, compiled). Plan a model with
 * {@link buildPlan} (AWS) or {@link planForMachine} (a machine you have), then declare one of the
 * three components from the plan. Everything else under components/ is internal and may change.
 */

/** One right-sized GPU EC2 instance serving the plan's model behind an API key (`qwen3-serve:aws:GpuServer`). */
export { GpuServer } from "./targets/aws";
/** Inputs of {@link GpuServer}. */
export type { GpuServerArgs } from "./targets/aws";
/** The idle watchdog's settings on AWS (action and instance-tag reading optional). */
export type { GpuServerIdle } from "./targets/aws";
/** The model served in containers on a Docker host you have (`qwen3-serve:docker:Server`). */
export { DockerServer } from "./targets/docker";
/** Inputs of {@link DockerServer}. */
export type { DockerServerArgs } from "./targets/docker";
/** The model served on a GPU workstation you reach over SSH (`qwen3-serve:workstation:Server`). */
export { WorkstationServer } from "./targets/workstation";
/** Inputs of {@link WorkstationServer}. */
export type { WorkstationServerArgs } from "./targets/workstation";
/** The outputs all three components share (endpoint, model name, API key, ...). */
export type { TargetOutputs } from "./targets/outputs";
/** The idle watchdog's settings, an input of the Docker and workstation components. */
export type { IdleSettings } from "./machine/render";

/** Size a request onto the cheapest AWS instance that serves it; throws {@link UserError} when none can. */
export { buildPlan } from "./sizing/plan";
/** The sizing decision every component takes: model, engine, instance, memory and serve command. */
export type { Plan } from "./sizing/plan";
/** Instance rows and GPU lookup that {@link buildPlan} chooses from (the AWS catalog by default). */
export type { PlanCatalog } from "./sizing/plan";
/** Fit a request onto GPUs you describe, stepping unset quantization and context down to fit. */
export { planForMachine } from "./sizing/machinePlan";
/** The GPUs (and, if known, host RAM) of a machine you have. */
export type { MachineGpus } from "./sizing/machinePlan";
/** Which of quantization and context the user set, so {@link planForMachine} adjusts only the others. */
export type { ExplicitChoices } from "./sizing/machinePlan";
/** The plan {@link planForMachine} fitted, and what it changed to fit (null when nothing). */
export type { MachinePlan } from "./sizing/machinePlan";
/** Validate a sizing request as written (defaults filled in), for {@link buildPlan} and {@link planForMachine}. */
export { parsePlanRequest } from "./sizing/request";
/** A validated sizing request, as {@link buildPlan} takes it. */
export type { PlanRequest } from "./sizing/request";
/** A sizing request as a user may write it (defaults optional), as {@link parsePlanRequest} takes it. */
export type { PlanRequestInput } from "./sizing/request";
/** A plan as `npm run plan` prints it. */
export { formatPlan } from "./sizing/planText";

/** GPU models by name (AWS and workstation cards), for {@link MachineGpus}. */
export { KNOWN_GPUS } from "./catalog/workstationGpus";
/** A GPU model: architecture, compute capability and usable memory, with its source. */
export type { GpuModel } from "./catalog/gpus";
/** An AWS GPU instance row of the catalog: GPUs, RAM, prices, source. */
export type { GpuInstance } from "./catalog/gpus";
/** AMI families a {@link GpuServer} boots from. */
export type { AmiFamilyName } from "./catalog/amis";
/** A weight format (bf16, fp8, awq, gptq-int4, gptq-int8, q4_K_M, q8_0, fp16). */
export type { Quantization } from "./catalog/quantizations";
/** A catalogued Qwen3 model. */
export type { QwenModel } from "./catalog/models";
/** An inference engine's name (vllm, sglang, ollama). */
export type { EngineName } from "./engines";

/** A mistake in user input: names the setting, the bad value, the fix and the valid choices. */
export { UserError } from "./errors/userError";
/** Whether a thrown value is a {@link UserError} (a user mistake, not a bug). */
export { isUserError } from "./errors/userError";
