/** The version of mill, shown by `mill version` and `mill --version`. */
export const MILL_VERSION = "0.1.0";
