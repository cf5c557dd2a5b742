/** Syntax checks of images, hosts and label keys. */

import type { AttributeNode } from "./cst.ts";
import type { BlockReader, MapEntry } from "./_reader.ts";

/** An image reference is at most this long. */
export const IMAGE_CHARS_MAX = 512;
const LABEL_KEY_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._\/-]*[A-Za-z0-9])?$/;
const LABEL_KEY_CHARS_MAX = 253;
const HOST_CHARS_MAX = 253;

/** Reports an image that no registry would accept; true when it is usable. */
export function checkImage(
  reader: BlockReader,
  attr: AttributeNode,
  image: string,
): boolean {
  let problem: string | undefined;
  if (image.trim() === "") problem = "is empty";
  else if (/\s/.test(image)) problem = "contains whitespace";
  else if (image.length > IMAGE_CHARS_MAX) {
    problem = `is longer than ${IMAGE_CHARS_MAX} characters`;
  } else if (/^[:/@]|[:/@]$|\/\//.test(image)) {
    problem = 'has an empty part around ":", "/" or "@"';
  } else if (/[A-Z]/.test(repositoryOf(image))) {
    problem = "has uppercase letters in its repository name";
  }
  if (problem === undefined) return true;
  reader.report(
    "config.bad_value",
    `${
      reader.where("image")
    } ${problem}, found "${image}"; write a reference like "registry.example.com/web:v1"`,
    attr.value.pos,
    { field: "image", expected: "an image reference", found: image },
  );
  return false;
}

/** The path after an optional registry host, before the tag or digest. */
function repositoryOf(image: string): string {
  const withoutDigest = image.split("@")[0] ?? image;
  const parts = withoutDigest.split("/");
  const first = parts[0] ?? "";
  const hasHost = parts.length > 1 &&
    (first.includes(".") || first.includes(":") || first === "localhost");
  const path = (hasHost ? parts.slice(1) : parts).join("/");
  const colon = path.lastIndexOf(":");
  return colon === -1 ? path : path.slice(0, colon);
}

/** A DNS name: labels of letters, digits and `-`, joined by dots. */
export function validHost(host: string): boolean {
  if (host.length === 0 || host.length > HOST_CHARS_MAX) return false;
  return host.split(".").every((label) =>
    /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)
  );
}

export function checkLabel(reader: BlockReader, entry: MapEntry): boolean {
  if (
    LABEL_KEY_PATTERN.test(entry.key) && entry.key.length <= LABEL_KEY_CHARS_MAX
  ) {
    return true;
  }
  reader.report(
    "config.bad_name",
    `Label key "${entry.key}" in ${reader.scope.label} is not valid; use letters, digits, ".", "_", "-" and "/", starting and ending with a letter or digit`,
    entry.keyPos,
    {
      field: `labels.${entry.key}`,
      expected: "a key like team or app.kubernetes.io/name",
      found: entry.key,
    },
  );
  return false;
}
