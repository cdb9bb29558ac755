import { LivegradError } from '../errors.js';
import type { Pass } from './pass.js';

/** Throws when a pass reaches an operator after a newer batch already entered forward(): its buffers were overwritten. */
export function assertFresh(pass: Pass, where: string): void {
  if (pass.seq !== pass.ctx.seq) {
    throw new LivegradError(
      'E_PIPELINE_ORDER',
      `Expected batch ${pass.seq} to reach ${where}() before batch ${pass.ctx.seq} entered forward(), got it after: keep forward → loss → delta → update synchronous`,
    );
  }
}
