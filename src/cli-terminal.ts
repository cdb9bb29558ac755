/**
 * What livegrad's commands share on a terminal: their flags read one by one (`flags`), and a
 * status line redrawn in place (`statusLine`).
 */

/** A flag of argv, and its value (the next argument) when the flag takes one. */
export interface Flag {
  readonly flag: string;
  /** The argument after the flag; throws TypeError naming the flag when there is none. */
  value(): string;
}

/**
 * The arguments one by one: a flag's `value()` takes the argument after it, which is then not
 * read as a flag.
 *
 * @example
 *   for (const { flag, value } of flags(argv)) if (flag === '--port') port = Number(value());
 */
export function* flags(argv: readonly string[]): Generator<Flag> {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    yield {
      flag,
      value: () => {
        const v = argv[++i];
        if (v === undefined) throw new TypeError(`Expected a value after ${flag}, got nothing`);
        return v;
      },
    };
  }
}

/**
 * A line redrawn in place on a terminal, at most every 100 ms (nothing at all for work done
 * within the first 100 ms), cut to the terminal's width; `clear()` removes it.
 */
export function statusLine(out: NodeJS.WriteStream): { update(line: () => string): void; clear(): void } {
  let last = performance.now();
  let drawn = false;
  return {
    update(line) {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      drawn = true;
      out.write(`\r${line().slice(0, Math.max(20, (out.columns || 80) - 1))}\x1b[K`);
    },
    clear() {
      if (drawn) out.write('\r\x1b[K');
    },
  };
}
