/**
 * `npm run plan`: size a Qwen3 model for an engine and print the plan, with no cloud and no credentials;
 * `--check-quota` alone reads the account's vCPU quota and instances through the AWS SDK.
 * Exit codes: 0 planned, 2 bad input, nothing fits, or (--check-quota) a vCPU quota too small for it; 1 a bug.
 */
import { isUserError, UserError } from "../components/errors/userError";
import { buildPlan } from "../components/sizing/plan";
import { formatPlan } from "../components/sizing/planText";
import { parsePlanRequest, type PlanRequestInput } from "../components/sizing/request";
import { parseFlags } from "./cli";
import { type QuotaNeed, quotaCheckText, quotaFits, quotaNeed } from "../components/quota/rules";
import { readQuotaWithSdk } from "../components/quota/sdk";

/** The quota a plan needs, as --json shows it. */
const quotaJson = (need: QuotaNeed): Record<string, string | number> => ({
  code: need.quota.code,
  name: need.quota.name,
  market: need.market,
  vcpus: need.vcpus,
});

const USAGE = `Usage: npm run --silent plan -- --model <m> --engine <vllm|sglang|ollama> [--quant <q>] [--context <n>]
       [--concurrency <n>] [--spot] [--max-price <usd>] [--families g6e,p5] [--instance-types g6e.xlarge]
       [--region us-east-1] [--json]
       [--max-monthly-cost <usd>]   refuse a plan over this many USD a month at 730 h
       [--objective <cost-per-token|cost|speed>]   what to optimise (default cost-per-token: $ per million output tokens)
       [--min-tokens-per-second <n>]   per-sequence speed cost-per-token requires (default 20, a comfortable reading speed)
       [--check-quota]   read the plan's vCPU quota and the vCPUs in use with your AWS credentials, in --region or the SDK's default region`;

/** Flag spelled for each request field, so errors name what the user typed. */
const FLAGS: Record<string, string> = {
  model: "--model",
  engine: "--engine",
  quantization: "--quant",
  context: "--context",
  concurrency: "--concurrency",
  maxPricePerHour: "--max-price",
  maxMonthlyCost: "--max-monthly-cost",
  families: "--families",
  instanceTypes: "--instance-types",
  spot: "--spot",
  region: "--region",
  objective: "--objective",
  minTokensPerSecond: "--min-tokens-per-second",
};

/** Field names written in camelCase: only these are safe to swap for their flag inside an error's prose. */
const CAMEL_FIELDS = new RegExp(
  `\\b(${Object.keys(FLAGS)
    .filter((k) => /[A-Z]/.test(k))
    .join("|")})\\b`,
  "g",
);

/** The error as the CLI words it: the flag in place of the request field, in its key and in its text. */
function forCli(e: UserError): UserError {
  const flag = (k: string): string => FLAGS[k] ?? k;
  const words = (text: string): string => text.replace(CAMEL_FIELDS, flag);
  return new UserError({
    key: flag(e.key),
    value: e.value,
    problem: words(e.problem),
    hint: words(e.hint),
    choices: e.choices,
  });
}

const OPTIONS = {
  model: { type: "string" },
  engine: { type: "string" },
  quant: { type: "string" },
  context: { type: "string" },
  concurrency: { type: "string" },
  "max-price": { type: "string" },
  "max-monthly-cost": { type: "string" },
  families: { type: "string" },
  "instance-types": { type: "string" },
  region: { type: "string" },
  objective: { type: "string" },
  "min-tokens-per-second": { type: "string" },
  spot: { type: "boolean" },
  json: { type: "boolean" },
  "check-quota": { type: "boolean" },
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

async function main(argv: readonly string[]): Promise<number> {
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
    if (v["max-monthly-cost"] !== undefined) raw.maxMonthlyCost = num("maxMonthlyCost", v["max-monthly-cost"]);
    if (v.families !== undefined) raw.families = list(v.families);
    if (v["instance-types"] !== undefined) raw.instanceTypes = list(v["instance-types"]);
    if (v.region !== undefined) raw.region = v.region;
    if (v.objective !== undefined) raw.objective = v.objective;
    if (v["min-tokens-per-second"] !== undefined)
      raw.minTokensPerSecond = num("minTokensPerSecond", v["min-tokens-per-second"]);
    if (v.spot === true) raw.spot = true;
    const plan = buildPlan(parsePlanRequest(raw));
    const need = quotaNeed(plan.instance);
    const check = v["check-quota"] === true && need !== null ? await readQuotaWithSdk(need, v.region) : undefined;
    const quota = need === null ? null : { ...quotaJson(need), ...(check !== undefined ? { check } : {}) };
    if (v.json === true) process.stdout.write(`${JSON.stringify({ ...plan, quota }, null, 2)}\n`);
    else
      process.stdout.write(
        `${formatPlan(plan)}\n${need !== null && check !== undefined ? `${quotaCheckText(need, check)}\n` : ""}`,
      );
    // A quota too small for the plan fails like a plan that does not fit: the launch would.
    return need !== null && check?.kind === "read" && !quotaFits(need, check.reading) ? 2 : 0;
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`error: ${forCli(e).message}\n`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
