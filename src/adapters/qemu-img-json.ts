/**
 * A small JSON parser for qemu-img's `--output=json`, because `JSON.parse`
 * turns every number into a double: a u64 such as a virtual size near 2^64 (or
 * any size above 2^53) would come back silently rounded. Node 20 has no
 * `JSON.parse` source-text access, so integers are read here: an integer
 * literal that fits a safe integer becomes a `number`, a larger one a `bigint`.
 * Everything else follows RFC 8259. Nesting is capped, so hostile metadata
 * cannot turn into a deep recursion.
 */

export type JsonValue =
  null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
}

const MAX_DEPTH = 64;

export function parseJsonLossless(text: string): JsonValue {
  const p = new Parser(text);
  p.ws();
  const value = p.value(0);
  p.ws();
  if (p.pos !== text.length) p.fail('trailing characters');
  return value;
}

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonSyntaxError(`${what} at offset ${this.pos}`);
  }

  ws(): void {
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.pos++;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    switch (this.s.charAt(this.pos)) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        return this.number();
    }
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    if (!this.s.startsWith(word, this.pos)) this.fail('unexpected token');
    this.pos += word.length;
    return value;
  }

  private object(depth: number): { [key: string]: JsonValue } {
    // A null-prototype object: a key named `__proto__` is then just a key.
    const out = Object.create(null) as { [key: string]: JsonValue };
    this.pos++;
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') this.fail('expected a key');
      const key = this.string();
      this.ws();
      if (this.s[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      this.ws();
      out[key] = this.value(depth + 1);
      this.ws();
      const c = this.s[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail("expected ',' or '}'");
    }
  }

  private array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++;
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    // The literal, escapes included, is valid JSON on its own: JSON.parse decodes it exactly.
    const start = this.pos++;
    for (;;) {
      if (this.pos >= this.s.length) this.fail('unterminated string');
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in string');
      this.pos += c === 0x5c ? 2 : 1;
    }
    this.pos++;
    return JSON.parse(this.s.slice(start, this.pos)) as string;
  }

  private number(): number | bigint {
    const m = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    m.lastIndex = this.pos;
    const found = m.exec(this.s);
    if (!found) this.fail('unexpected token');
    this.pos = m.lastIndex;
    const literal = found[0];
    if (found[1] !== undefined || found[2] !== undefined) return Number(literal);
    const n = Number(literal);
    return Number.isSafeInteger(n) ? n : BigInt(literal);
  }
}
