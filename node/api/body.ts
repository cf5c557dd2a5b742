/**
 * Request bodies, bounded: the content type is checked first (415), the
 * declared length next (413 before reading), then the stream is read up to
 * the limit and cut off past it (413), so a client cannot make a node buffer
 * more than `bytesMax`.
 */
import { ApiError } from "./errors.ts";

/** Default body bound for JSON requests. */
export const JSON_BODY_BYTES_MAX = 1024 * 1024;

export interface BodyOptions {
  readonly bytesMax: number;
  /** Accepted media types, lowercase, without parameters. */
  readonly contentTypes: readonly string[];
}

/** Reads a JSON body (`application/json`) as `unknown`. */
export async function readJsonBody(
  request: Request,
  options: { readonly bytesMax?: number } = {},
): Promise<unknown> {
  const text = await readTextBody(request, {
    bytesMax: options.bytesMax ?? JSON_BODY_BYTES_MAX,
    contentTypes: ["application/json"],
  });
  if (text.trim() === "") {
    throw new ApiError(
      400,
      "api.empty_body",
      "The request body is empty; send a JSON document",
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(
      400,
      "api.invalid_json",
      "The request body is not valid JSON",
      {
        cause: err,
      },
    );
  }
}

/** Reads a UTF-8 text body of one of `options.contentTypes`. */
export async function readTextBody(
  request: Request,
  options: BodyOptions,
): Promise<string> {
  const bytes = await readBodyBytes(request, options);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new ApiError(
      400,
      "api.invalid_encoding",
      "The request body is not valid UTF-8",
      {
        cause: err,
      },
    );
  }
}

/** Reads the raw body after the type and size checks. */
export async function readBodyBytes(
  request: Request,
  options: BodyOptions,
): Promise<Uint8Array> {
  checkContentType(request, options.contentTypes);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > options.bytesMax) {
    await request.body?.cancel();
    throw tooLarge(options.bytesMax);
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    // Ends when the stream ends or the bound is passed.
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > options.bytesMax) {
        await reader.cancel();
        throw tooLarge(options.bytesMax);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function checkContentType(request: Request, accepted: readonly string[]): void {
  const header = request.headers.get("content-type");
  const type = header?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (accepted.includes(type)) return;
  throw new ApiError(
    415,
    "api.unsupported_media_type",
    `Content type ${
      header === null ? "(none)" : JSON.stringify(header)
    } is not accepted; send ${accepted.join(" or ")}`,
  );
}

function tooLarge(bytesMax: number): ApiError {
  return new ApiError(
    413,
    "api.body_too_large",
    `The request body is larger than ${bytesMax} bytes`,
  );
}
