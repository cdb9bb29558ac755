/**
 * Loads test/fixtures/digits.csv (the UCI 8×8 digits, pixels scaled to [0, 1]) in place:
 * header f0..f63,label, one sample per line. Tests only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Digits {
  readonly rows: number;
  /** Features per sample (64). */
  readonly cols: number;
  /** x: [rows, cols] row-major. */
  readonly x: Float32Array;
  /** One class index in [0, 9] per row. */
  readonly labels: Int32Array;
}

export const DIGITS_CSV = fileURLToPath(new URL('../fixtures/digits.csv', import.meta.url));

export function loadDigits(path: string = DIGITS_CSV): Digits {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  const cols = header.length - 1;
  if (header[cols] !== 'label' || header.slice(0, cols).some((h, j) => h !== `f${j}`)) {
    throw new Error(`Expected header f0..f${cols - 1},label in ${path}, got ${lines[0]!.slice(0, 40)}…`);
  }
  const rows = lines.length - 1;
  const x = new Float32Array(rows * cols);
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const cells = lines[i + 1]!.split(',');
    if (cells.length !== cols + 1) throw new Error(`Expected ${cols + 1} cells on line ${i + 2} of ${path}, got ${cells.length}`);
    for (let j = 0; j < cols; j++) x[i * cols + j] = Number(cells[j]);
    labels[i] = Number(cells[cols]);
  }
  return { rows, cols, x, labels };
}
