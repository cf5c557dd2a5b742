/**
 * The one rule for a volume's name wherever storage uses it as a file or
 * directory name: lowercase letters, digits, dots and dashes, starting
 * with a letter or digit, at most 63 characters (so never `..`, never a
 * path). Names are deterministic (`mill-CLUSTER-VOLUME`), so a restarted
 * leader finds its volumes by name.
 */
const VOLUME_NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;

export function isVolumeName(name: string): boolean {
  return VOLUME_NAME.test(name);
}

export const VOLUME_NAME_RULE =
  "1 to 63 of a-z, 0-9, '.' and '-', starting with a letter or digit";
