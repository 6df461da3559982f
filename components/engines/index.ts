/**
 * The engine registry. Adding an engine: write one file that exports an {@link Engine}, add it here.
 */
import type { Engine } from "./types";
import { ollama } from "./ollama";
import { sglang } from "./sglang";
import { vllm } from "./vllm";

/** Every engine, by name. */
export const ENGINES = { vllm, sglang, ollama } as const satisfies Record<string, Engine>;

/** An engine name. */
export type EngineName = keyof typeof ENGINES;

/** Engine names, for validation and messages. */
export const ENGINE_NAMES = Object.keys(ENGINES) as [EngineName, ...EngineName[]];

/** Whether an engine streams its weights from the S3 mirror (`WeightsMirror.stream`); the others copy them to disk. */
export function streamsFromObjectStore(engine: EngineName): boolean {
  const e: Engine = ENGINES[engine];
  return e.objectStore !== undefined;
}
