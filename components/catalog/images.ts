/**
 * Container images the targets run besides the engines (whose images each engine pins).
 * Pinned by tag; never latest.
 */
import type { Source } from "./source";

/** The Docker target's auth proxy: the official nginx image, stable line. */
export const PROXY_IMAGE = "nginx:1.28.0-alpine";

/** Where the pin was checked. */
export const PROXY_IMAGE_SOURCE: Source = {
  url: "https://hub.docker.com/_/nginx (tag 1.28.0-alpine, also pinned by digest in public Dockerfiles)",
  asOf: "2026-11-29",
  note: "nginx 1.28 is the stable branch; the image's nginx.conf includes /etc/nginx/conf.d/*.conf inside http {}",
};
