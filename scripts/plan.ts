/**
 * `npm run plan`: size a Qwen3 model for an engine and print the plan, with no cloud and no credentials.
 * Exit codes: 0 planned, 2 bad input or nothing fits (reason on stderr), 1 a bug.
 */
import { isUserError, UserError } from "../components/errors/userError";
import { buildPlan } from "../components/sizing/plan";
import { formatPlan } from "../components/sizing/planText";
import { parsePlanRequest, type PlanRequestInput } from "../components/sizing/request";
import { parseFlags } from "./cli";

const USAGE = `Usage: npm run --silent plan -- --model <m> --engine <vllm|sglang|ollama> [--quant <q>] [--context <n>]
       [--concurrency <n>] [--spot] [--max-price <usd>] [--families g6e,p5] [--instance-types g6e.xlarge] [--json]`;

/** Flag spelled for each request field, so errors name what the user typed. */
const FLAGS: Record<string, string> = {
  model: "--model",
  engine: "--engine",
  quantization: "--quant",
  context: "--context",
  concurrency: "--concurrency",
  maxPricePerHour: "--max-price",
  families: "--families",
  instanceTypes: "--instance-types",
  spot: "--spot",
};

const OPTIONS = {
  model: { type: "string" },
  engine: { type: "string" },
  quant: { type: "string" },
  context: { type: "string" },
  concurrency: { type: "string" },
  "max-price": { type: "string" },
  families: { type: "string" },
  "instance-types": { type: "string" },
  spot: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Parse a token count: plain digits or a k suffix (32k = 32768). */
function tokens(flag: string, raw: string): number {
  const m = /^(\d+)(k)?$/i.exec(raw.trim());
  if (m === null || m[1] === undefined) {
    throw new UserError({
      key: flag,
      value: raw,
      problem: "not a whole number.",
      hint: "Give digits, optionally with a k suffix (32k = 32768).",
    });
  }
  return Number(m[1]) * (m[2] === undefined ? 1 : 1024);
}

function num(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n))
    throw new UserError({ key: flag, value: raw, problem: "not a number.", hint: "Give a plain number, e.g. 2.5." });
  return n;
}

const list = (raw: string): string[] =>
  raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

function main(argv: readonly string[]): number {
  const v = parseFlags(argv, OPTIONS, USAGE);
  if (v === null) return 2;
  if (v.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const raw: Partial<Record<keyof PlanRequestInput, unknown>> = {};
    if (v.model !== undefined) raw.model = v.model;
    if (v.engine !== undefined) raw.engine = v.engine;
    if (v.quant !== undefined) raw.quantization = v.quant;
    if (v.context !== undefined) raw.context = tokens("context", v.context);
    if (v.concurrency !== undefined) raw.concurrency = tokens("concurrency", v.concurrency);
    if (v["max-price"] !== undefined) raw.maxPricePerHour = num("maxPricePerHour", v["max-price"]);
    if (v.families !== undefined) raw.families = list(v.families);
    if (v["instance-types"] !== undefined) raw.instanceTypes = list(v["instance-types"]);
    if (v.spot === true) raw.spot = true;
    const plan = buildPlan(parsePlanRequest(raw));
    process.stdout.write(v.json === true ? `${JSON.stringify(plan, null, 2)}\n` : `${formatPlan(plan)}\n`);
    return 0;
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`error: ${e.relabel((k) => FLAGS[k] ?? k).message}\n`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = main(process.argv.slice(2));
