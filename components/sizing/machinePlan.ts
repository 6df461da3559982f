/**
 * Sizing the other way round: the machine exists (a workstation, a Docker host), so instead of
 * choosing an instance, check the model fits its GPUs and, where the user left quantization or
 * context open, step down to the best that fits; otherwise refuse with the reason.
 */
import type { GpuInstance, GpuModel } from "../catalog/gpus";
import type { Interconnect } from "../catalog/interconnect";
import { MODELS } from "../catalog/models";
import { FORMAT_SPECS, type Quantization } from "../catalog/quantizations";
import { ENGINES } from "../engines";
import { resolveModel } from "./modelLookup";
import { buildPlan, type LargestOption, NothingFitsError, type Plan } from "./plan";
import type { PlanRequest } from "./request";

/** Shortest context we step down to when shrinking to fit: room for a thinking answer. */
export const MIN_FIT_CONTEXT = 8192;
/** How a described machine's cards are linked: not asked, so PCIe Gen4, the common case and the slower one. */
export const MACHINE_INTERCONNECT: Interconnect = {
  kind: "pcie",
  generation: 4,
  assumed: true,
  source: { url: "described in the stack config", asOf: "n/a" },
};
/** Instance type name a described machine plans as. */
export const MACHINE_TYPE = "existing-machine";

/** The GPUs (and, if known, the host RAM) of an existing machine. */
export interface MachineGpus {
  readonly gpu: GpuModel;
  readonly count: number;
  /** Host RAM; when unknown the RAM rule is not applied. */
  readonly ramGiB?: number;
}

/** Which sizing inputs the user set, so only the others are adjusted. */
export interface ExplicitChoices {
  readonly quantization: boolean;
  readonly context: boolean;
}

/** A plan for the machine, and what was changed to make it fit. */
export interface MachinePlan {
  readonly plan: Plan;
  /** Null when the request fitted as asked. */
  readonly adjusted: string | null;
}

function catalogFor(machine: MachineGpus): { instances: GpuInstance[]; gpus: (name: string) => GpuModel } {
  const row: GpuInstance = {
    type: MACHINE_TYPE,
    family: MACHINE_TYPE,
    gpu: machine.gpu.name,
    gpuCount: machine.count,
    vcpus: 0,
    // Unknown RAM must not reject the machine; the bootstrap still checks what it can.
    ramGiB: machine.ramGiB ?? Number.MAX_SAFE_INTEGER,
    nvmeGB: 0,
    onDemandUsdPerHour: 0,
    spotUsdPerHour: null,
    source: { url: "described in the stack config", asOf: "n/a" },
    interconnect: MACHINE_INTERCONNECT,
  };
  return { instances: [row], gpus: () => machine.gpu };
}

const bits = (q: Quantization): number => {
  const s = FORMAT_SPECS[q];
  return s.kind === "hf" ? s.linearBits : s.estimatedBitsPerParam;
};

/** The plan as the user should read it: no stand-in RAM figure, no price. */
function factual(plan: Plan, machine: MachineGpus): Plan {
  return { ...plan, instance: { ...plan.instance, ramGiB: machine.ramGiB ?? 0, priceRegion: "n/a" } };
}

/** Plan a request onto a described machine, stepping down unset quantization and context to fit. */
export function planForMachine(request: PlanRequest, machine: MachineGpus, explicit: ExplicitChoices): MachinePlan {
  const catalog = catalogFor(machine);
  const describe = `${machine.count} x ${machine.gpu.name} (${(machine.gpu.usableMiB / 1024).toFixed(1)} GiB each)`;
  let asAsked: LargestOption | null;
  try {
    return {
      plan: factual(buildPlan({ ...request, spot: false, objective: "cost" }, catalog), machine),
      adjusted: null,
    };
  } catch (e) {
    if (!(e instanceof NothingFitsError)) throw e;
    asAsked = e.largest;
  }

  const { model, impliedQuantization } = resolveModel(request.model);
  const engine = ENGINES[request.engine];
  const asked = request.quantization ?? impliedQuantization ?? engine.quantizations[0];
  const quants =
    explicit.quantization || (request.quantization === undefined && impliedQuantization !== undefined)
      ? [asked]
      : engine.quantizations
          .filter((q) => bits(q) <= bits(asked))
          .filter(
            (q) =>
              (FORMAT_SPECS[q].kind === "hf"
                ? model.hf[q as keyof typeof model.hf]
                : model.ollama[q as keyof typeof model.ollama]) !== undefined,
          )
          .sort((a, b) => bits(b) - bits(a));
  const contexts: number[] = [request.context];
  if (!explicit.context)
    for (let c = Math.floor(request.context / 2); c >= MIN_FIT_CONTEXT; c = Math.floor(c / 2)) contexts.push(c);

  for (const quantization of quants) {
    for (const context of contexts) {
      if (quantization === asked && context === request.context) continue;
      try {
        const plan = buildPlan({ ...request, spot: false, objective: "cost", quantization, context }, catalog);
        const what = [
          quantization !== asked ? `${quantization} instead of ${asked}` : "",
          context !== request.context ? `context ${context} instead of ${request.context}` : "",
        ]
          .filter(Boolean)
          .join(", ");
        return {
          plan: factual(plan, machine),
          adjusted: `${model.id} as asked does not fit ${describe}; serving ${what}`,
        };
      } catch (e) {
        if (!(e instanceof NothingFitsError)) throw e;
      }
    }
  }
  // The catalog is this one machine, so the largest option is the machine as asked.
  const needs = asAsked?.reason ?? "No instance type passed the filters";
  const tried =
    quants.length > 1 || contexts.length > 1
      ? `, nor in ${quants.join(", ")} at ${Math.min(...contexts)} tokens or more`
      : "";
  throw new NothingFitsError(
    {
      key: "gpus",
      value: describe,
      problem: `${model.id} on ${engine.name} does not fit this machine as asked (${needs})${tried}.`,
      hint:
        explicit.quantization || explicit.context
          ? "Unset quantization or context so they can be stepped down, pick a smaller model, or add GPUs."
          : "Pick a smaller model or add GPUs.",
      choices: MODELS.filter((m) => m.params.totalB < model.params.totalB && m.release === model.release).map(
        (m) => m.id,
      ),
    },
    asAsked,
  );
}
