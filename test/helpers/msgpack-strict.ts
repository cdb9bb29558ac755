/**
 * A strict, independent MessagePack decoder (tests only): the standard formats and nothing else.
 * It throws on extension types (fixext, ext 8/16/32), on the never-used byte 0xc1, on map keys
 * that are not strings, and on trailing bytes, so decoding every frame the server sends with it
 * proves the wire is plain MessagePack that any implementation reads.
 */
export function strictDecode(buf: Uint8Array): unknown {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const text = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;

  const need = (n: number): void => {
    if (pos + n > buf.length) throw new Error(`truncated at ${pos}: need ${n} bytes`);
  };
  const str = (n: number): string => {
    need(n);
    const s = text.decode(buf.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const bin = (n: number): Uint8Array => {
    need(n);
    const b = new Uint8Array(n);
    b.set(buf.subarray(pos, pos + n));
    pos += n;
    return b;
  };
  const arr = (n: number): unknown[] => {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(read());
    return out;
  };
  const map = (n: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = read();
      if (typeof k !== 'string') throw new Error(`map key at ${pos} is not a string: ${String(k)}`);
      Object.defineProperty(out, k, { value: read(), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  const u = (n: 1 | 2 | 4): number => {
    need(n);
    const v = n === 1 ? view.getUint8(pos) : n === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += n;
    return v;
  };
  const big = (signed: boolean): number => {
    need(8);
    const v = signed ? view.getBigInt64(pos) : view.getBigUint64(pos);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`64-bit integer ${v} does not fit a double`);
    return Number(v);
  };

  function read(): unknown {
    need(1);
    const b = buf[pos++]!;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f);
    if (b >= 0x90 && b <= 0x9f) return arr(b & 0x0f);
    if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u(1));
      case 0xc5: return bin(u(2));
      case 0xc6: return bin(u(4));
      case 0xca: { need(4); const v = view.getFloat32(pos); pos += 4; return v; }
      case 0xcb: { need(8); const v = view.getFloat64(pos); pos += 8; return v; }
      case 0xcc: return u(1);
      case 0xcd: return u(2);
      case 0xce: return u(4);
      case 0xcf: return big(false);
      case 0xd0: { need(1); const v = view.getInt8(pos); pos += 1; return v; }
      case 0xd1: { need(2); const v = view.getInt16(pos); pos += 2; return v; }
      case 0xd2: { need(4); const v = view.getInt32(pos); pos += 4; return v; }
      case 0xd3: return big(true);
      case 0xd9: return str(u(1));
      case 0xda: return str(u(2));
      case 0xdb: return str(u(4));
      case 0xdc: return arr(u(2));
      case 0xdd: return arr(u(4));
      case 0xde: return map(u(2));
      case 0xdf: return map(u(4));
      default:
        throw new Error(`byte 0x${b.toString(16)} at ${pos - 1} is ${b === 0xc1 ? 'never used' : 'an extension type'}: not plain MessagePack`);
    }
  }

  const value = read();
  if (pos !== buf.length) throw new Error(`${buf.length - pos} trailing bytes`);
  return value;
}
