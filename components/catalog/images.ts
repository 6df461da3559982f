/**
 * Container images the targets run besides the engines (whose images each engine pins).
 * Pinned by tag; never latest.
 */
import type { Source } from "./source";

/** The Docker target's auth proxy: the official nginx image, stable line. */
export const PROXY_IMAGE = "nginx:1.28.0-alpine";

/** Where the pin was checked. */
export const PROXY_IMAGE_SOURCE: Source = {
  url: "https://hub.docker.com/_/nginx",
  asOf: "2026-11-29",
  note:
    "tag 1.28.0-alpine, also pinned by digest in public Dockerfiles; nginx 1.28 is the stable " +
    "branch; the image's nginx.conf includes /etc/nginx/conf.d/*.conf inside http {}",
};

/** The Docker target's idle watchdog sidecar: the official Python image, for the same idle.py the machines run. */
export const WATCHDOG_IMAGE = "python:3.13.2-alpine3.20";

/** Where the pin was checked. */
export const WATCHDOG_IMAGE_SOURCE: Source = {
  url: ["https://hub.docker.com/_/python", "https://github.com/sir-gon/algorithm-exercises-py/pull/657"],
  asOf: "2026-11-29",
  note: "tag 3.13.2-alpine3.20, seen pinned in the pull request (2025-02-07); idle.py needs only the standard library; alpine keeps the pull small",
};
