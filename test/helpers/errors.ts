import { LivegradError } from '../../src/index.js';

/** The code of the LivegradError that `f` throws; undefined when it throws nothing (anything else is rethrown). */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof LivegradError) return e.code;
    throw e;
  }
  return undefined;
}
