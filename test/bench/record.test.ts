/**
 * The recording bench's pure helpers (scripts/bench/record.ts): the order of an interleaved
 * measurement, each measured slot's ratio to its reference neighbours, and the peak RSS line of
 * /proc/<pid>/status.
 */
import { describe, expect, it, vi } from 'vitest';
import { neighbourRatios, ratesOf, schedule, vmHwmBytes, type Slot } from '../../scripts/bench/record.js';

// NOTE: not loaded: server.ts imports producer.ts, which listens for a job on the IPC channel as
// soon as it is imported, and would take the messages of vitest's worker for one (and exit).
vi.mock('../../scripts/bench/server.js', () => ({}));

describe('schedule', () => {
  it('puts the reference first, last and between every two measured slots, the measured kinds taking turns', () => {
    expect(schedule(['plain'], ['batch', 'always'], 2)).toEqual(['plain', 'batch', 'plain', 'always', 'plain', 'batch', 'plain', 'always', 'plain']);
  });

  it('repeats a reference group of several kinds in its order', () => {
    expect(schedule(['bare', 'rx'], ['replay'], 2)).toEqual(['bare', 'rx', 'replay', 'bare', 'rx', 'replay', 'bare', 'rx']);
  });

  it('refuses no kinds and a count that is not an integer ≥ 1', () => {
    expect(() => schedule([], ['a'], 1)).toThrow(TypeError);
    expect(() => schedule(['r'], [], 1)).toThrow(TypeError);
    expect(() => schedule(['r'], ['a'], 0)).toThrow(RangeError);
    expect(() => schedule(['r'], ['a'], 1.5)).toThrow(RangeError);
  });
});

describe('neighbourRatios', () => {
  const slots = (kinds: readonly string[], rate: (kind: string, i: number) => number): Slot[] => kinds.map((kind, i) => ({ kind, rate: rate(kind, i) }));

  it('divides each measured slot by the mean of the nearest reference slots either side', () => {
    const s: Slot[] = [
      { kind: 'plain', rate: 100 },
      { kind: 'batch', rate: 90 },
      { kind: 'plain', rate: 80 },
      { kind: 'always', rate: 45 },
      { kind: 'plain', rate: 100 },
    ];
    expect(neighbourRatios(s, 'batch', 'plain')).toEqual([1]);
    expect(neighbourRatios(s, 'always', 'plain')).toEqual([0.5]);
  });

  it('cancels a steady drift of the host: a measured kind at 90 % reads 90 % every round', () => {
    // the host slows by 2 % a slot; the measured kind runs at 0.9 × the reference throughout
    const s = slots(schedule(['plain'], ['batch'], 5), (kind, i) => (kind === 'batch' ? 0.9 : 1) * 1000 * (1 - 0.02 * i));
    for (const r of neighbourRatios(s, 'batch', 'plain')) expect(r).toBeCloseTo(0.9, 12);
  });

  it('skips slots of other kinds between a measured slot and its reference', () => {
    const s = slots(['bare', 'rx', 'replay', 'bare', 'rx'], (kind) => ({ bare: 200, rx: 160, replay: 180 })[kind]!);
    expect(neighbourRatios(s, 'replay', 'bare')).toEqual([0.9]);
    expect(neighbourRatios(s, 'replay', 'rx')).toEqual([1.125]);
  });

  it('uses the one neighbour there is at an end, and leaves out a slot with none', () => {
    expect(neighbourRatios(slots(['batch', 'plain'], (k) => (k === 'plain' ? 100 : 50)), 'batch', 'plain')).toEqual([0.5]);
    expect(neighbourRatios(slots(['plain', 'batch'], (k) => (k === 'plain' ? 100 : 50)), 'batch', 'plain')).toEqual([0.5]);
    expect(neighbourRatios(slots(['batch', 'batch'], () => 1), 'batch', 'plain')).toEqual([]);
  });

  it('gives nothing for a kind with no slots', () => {
    expect(neighbourRatios(slots(['plain', 'plain'], () => 1), 'batch', 'plain')).toEqual([]);
  });
});

describe('ratesOf', () => {
  it('gives the rates of one kind in order', () => {
    expect(ratesOf([{ kind: 'a', rate: 1 }, { kind: 'b', rate: 2 }, { kind: 'a', rate: 3 }], 'a')).toEqual([1, 3]);
  });
});

describe('vmHwmBytes', () => {
  it('reads the peak resident set in kB as bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1234567 kB\nVmHWM:\t  153600 kB\nVmRSS:\t  120000 kB\n';
    expect(vmHwmBytes(status)).toBe(153_600 * 1024);
  });

  it('gives undefined without a VmHWM line', () => {
    expect(vmHwmBytes('Name:\tnode\nVmRSS:\t 1 kB\n')).toBeUndefined();
    expect(vmHwmBytes('')).toBeUndefined();
  });
});
