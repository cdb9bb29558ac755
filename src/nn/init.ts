/**
 * Weight initialisers. All draw from the seeded generator, weights row-major [nin, nout].
 *
 *   normal         N(0, 1)                          like the tutorial's np.random.randn
 *   glorotUniform  U(-l, l), l = √(6 / (nin+nout))  Glorot & Bengio 2010 (default)
 *   heNormal       N(0, 2 / nin)                    He et al. 2015, for relu layers
 */
import { assertNever } from './activations.js';
import type { Rng } from './rng.js';
import type { FloatArray } from './tensor.js';

export type InitName = 'normal' | 'glorotUniform' | 'heNormal';
export type BiasInit = 'zeros' | 'normal';

export const INITS: readonly InitName[] = ['normal', 'glorotUniform', 'heNormal'];

export function isInitName(value: unknown): value is InitName {
  return typeof value === 'string' && (INITS as readonly string[]).includes(value);
}

export function initWeights(kind: InitName, w: FloatArray, nin: number, nout: number, random: Rng): void {
  switch (kind) {
    case 'normal':
      for (let i = 0; i < w.length; i++) w[i] = random.normal();
      return;
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (nin + nout));
      for (let i = 0; i < w.length; i++) w[i] = (2 * random.uniform() - 1) * limit;
      return;
    }
    case 'heNormal': {
      const sd = Math.sqrt(2 / nin);
      for (let i = 0; i < w.length; i++) w[i] = random.normal() * sd;
      return;
    }
    default:
      return assertNever(kind);
  }
}
