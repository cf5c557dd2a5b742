/** mill-config: the config language, its core types and their validation. */
export type * from "./types.ts";
