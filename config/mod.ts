/** mill-config: the config language, its core types and their validation. */
export type * from "./types.ts";
export { FAILURE_THRESHOLD_DEFAULT, UPDATE_DEFAULT } from "./types.ts";
export { parseConfig, type ParseConfigResult } from "./parse_config.ts";
export {
  type ConfigDiagnostic,
  ConfigError,
  type ConfigErrorCode,
  type ConfigNotice,
  formatDiagnostic,
} from "./diagnostic.ts";
export {
  formatDuration,
  formatSize,
  type Parsed,
  parseDuration,
  parseSize,
} from "./units.ts";
export {
  findInterpolations,
  type Interpolation,
  resolveSecretRefs,
  SECRET_NAME_PATTERN,
  secretRefs,
} from "./secrets.ts";
export { formatConfig, type FormatResult } from "./format.ts";
export { DEFAULTS } from "./limits.ts";
export {
  array,
  bool,
  count,
  type Infer,
  literal,
  nullable,
  num,
  object,
  type ObjectOptions,
  optional,
  type OptionalParser,
  type ParsedShape,
  type Parser,
  record,
  SchemaError,
  type SchemaErrorCode,
  type Shape,
  str,
  STRING_LENGTH_MAX_DEFAULT,
  type UnknownKeys,
} from "./schema.ts";
