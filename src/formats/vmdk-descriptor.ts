/**
 * Strict, line-by-line parser of a VMDK text descriptor (standalone file or
 * embedded in a sparse extent). Only comments, blank lines, `key=value` and
 * extent lines are allowed; anything else is reported, never skipped, because
 * a tolerant parser is how a hostile extent line gets past a check that a
 * different parser (qemu's) then honours.
 */
export interface VmdkExtent {
  readonly access: string;
  readonly sectors: bigint;
  readonly type: string;
  /** The quoted file name, or null for extents without one (ZERO). */
  readonly name: string | null;
}

export interface VmdkDescriptor {
  readonly values: ReadonlyMap<string, string>;
  readonly extents: readonly VmdkExtent[];
  /** Line numbers (1-based) of lines that fit no allowed shape. */
  readonly badLines: readonly number[];
}

const COMMENT = /^[ \t]*(#.*)?$/;
const KEY_VALUE = /^[ \t]*([A-Za-z][A-Za-z0-9_.]*)[ \t]*=[ \t]*(?:"([^"]*)"|([^ \t"]*))[ \t]*$/;
const EXTENT =
  /^[ \t]*(RW|RDONLY|NOACCESS)[ \t]+(\d{1,20})[ \t]+([A-Za-z0-9]+)(?:[ \t]+"([^"]*)"(?:[ \t]+(\d{1,20}))?)?[ \t]*$/;
/** Printable ASCII and tab: a descriptor is plain text; control bytes mean it is not one. */
const PRINTABLE = /^[\t\x20-\x7e]*$/;

/** Parses the text up to the first NUL (embedded descriptors are NUL padded). */
export function parseVmdkDescriptor(raw: Buffer): VmdkDescriptor {
  const nul = raw.indexOf(0);
  const text = raw.toString('latin1', 0, nul === -1 ? raw.length : nul);
  const values = new Map<string, string>();
  const extents: VmdkExtent[] = [];
  const badLines: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (!PRINTABLE.test(line)) {
      badLines.push(i + 1);
      continue;
    }
    if (COMMENT.test(line)) continue;
    const ext = EXTENT.exec(line);
    if (ext) {
      extents.push({
        access: ext[1] as string,
        sectors: BigInt(ext[2] as string),
        type: (ext[3] as string).toUpperCase(),
        name: ext[4] ?? null,
      });
      continue;
    }
    const kv = KEY_VALUE.exec(line);
    if (kv) {
      values.set(kv[1] as string, kv[2] ?? kv[3] ?? '');
      continue;
    }
    badLines.push(i + 1);
  }
  return { values, extents, badLines };
}

/** qemu's vmdk_probe: after comments and blank lines, the first line is `version=1|2|3`. */
export function looksLikeDescriptorFile(head: Buffer): boolean {
  if (head.toString('latin1', 0, 21) === '# Disk DescriptorFile') return true;
  // qemu probes a zero-padded 2048-byte buffer.
  const buf = Buffer.alloc(2048);
  head.copy(buf, 0, 0, Math.min(head.length, 2048));
  let p = 0;
  while (p < buf.length) {
    const c = buf[p];
    if (c === 0x23 /* # */) {
      while (p < buf.length && buf[p] !== 0x0a) p++;
      p++;
      continue;
    }
    if (c === 0x20) {
      while (p < buf.length && buf[p] === 0x20) p++;
      if (p < buf.length && buf[p] === 0x0d) p++;
      if (p === buf.length || buf[p] !== 0x0a) return false;
      p++;
      continue;
    }
    const rest = buf.toString('latin1', p, p + 11);
    return /^version=[123]\r?\n/.test(rest);
  }
  return false;
}

/**
 * A bare file name: the extent must be the image file itself. A slash or
 * backslash is a path, a colon a qemu protocol or `json:` spec, `.`/`..` a
 * directory.
 */
export function isBareName(name: string | null): boolean {
  return name !== null && name.length > 0 && !/[/\\:]/.test(name) && name !== '.' && name !== '..';
}
