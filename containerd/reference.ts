/**
 * Image references, normalized the way docker does: `busybox` is
 * `docker.io/library/busybox:latest`; a first component with a dot, a colon
 * or `localhost` is a registry host; a digest pins the manifest.
 */
import { ContainerdError } from "./errors.ts";

export const DOCKER_HUB_DOMAIN = "docker.io";
/** Where docker.io's Registry API actually lives. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
export const TAG_DEFAULT = "latest";
export const REFERENCE_LENGTH_MAX = 512;

export interface ImageReference {
  /** Registry host (with port), e.g. `docker.io`, `127.0.0.1:5000`. */
  readonly domain: string;
  /** Repository path, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  /** `sha256:<hex>` when pinned. */
  readonly digest?: string;
  /** The full normalized name, e.g. `docker.io/library/busybox:latest`. */
  readonly canonical: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DOMAIN =
  /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

function invalid(reference: string, why: string): ContainerdError {
  return new ContainerdError(
    "image.reference_invalid",
    `Image reference "${reference}" is invalid: ${why}`,
  );
}

/** Parses and normalizes a reference; throws `image.reference_invalid`. */
export function parseReference(reference: string): ImageReference {
  if (reference.length === 0) throw invalid(reference, "it is empty");
  if (reference.length > REFERENCE_LENGTH_MAX) {
    throw invalid(
      reference,
      `it is longer than ${REFERENCE_LENGTH_MAX} characters`,
    );
  }
  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw invalid(
        reference,
        `digest "${digest}" is not sha256:<64 hex digits>`,
      );
    }
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(reference, `tag "${tag}" is not valid`);
  }
  let domain = DOCKER_HUB_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN.test(domain)) {
        throw invalid(reference, `registry "${domain}" is not a host`);
      }
    }
  }
  if (domain === "index.docker.io") domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !path.includes("/")) {
    path = `library/${path}`;
  }
  if (path.length === 0) {
    throw invalid(reference, "the repository name is empty");
  }
  for (const component of path.split("/")) {
    if (!COMPONENT.test(component)) {
      throw invalid(
        reference,
        `repository component "${component}" must be lowercase letters, digits and separators`,
      );
    }
  }
  if (tag === undefined && digest === undefined) tag = TAG_DEFAULT;
  const canonical = `${domain}/${path}${tag === undefined ? "" : `:${tag}`}${
    digest === undefined ? "" : `@${digest}`
  }`;
  return {
    domain,
    path,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    canonical,
  };
}

/** The host the Registry HTTP API is reached at. */
export function apiHost(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function manifestSelector(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? TAG_DEFAULT;
}
