import { describe, expect, it } from 'vitest';

import { parseRangeHeader, resolveRange } from '../../src/domain/byte-range.ts';

describe('parseRangeHeader', () => {
  it('reads a closed range', () => {
    expect(parseRangeHeader('bytes=0-4')).toEqual({ start: 0, end: 4 });
    expect(parseRangeHeader('bytes=10-10')).toEqual({ start: 10, end: 10 });
  });

  it('reads an open range', () => {
    expect(parseRangeHeader('bytes=5-')).toEqual({ start: 5, end: null });
  });

  it('reads a suffix range', () => {
    expect(parseRangeHeader('bytes=-3')).toEqual({ suffix: 3 });
    expect(parseRangeHeader('bytes=-0')).toEqual({ suffix: 0 });
  });

  it('tolerates spaces around the numbers', () => {
    expect(parseRangeHeader('  bytes= 1 - 2 ')).toEqual({ start: 1, end: 2 });
  });

  it('ignores a missing or empty header', () => {
    expect(parseRangeHeader(undefined)).toBeNull();
    expect(parseRangeHeader('')).toBeNull();
  });

  it('ignores several ranges (the whole object is sent)', () => {
    expect(parseRangeHeader('bytes=0-1,3-4')).toBeNull();
    expect(parseRangeHeader('bytes=0-1, -2')).toBeNull();
  });

  it('ignores other units', () => {
    expect(parseRangeHeader('items=0-1')).toBeNull();
    expect(parseRangeHeader('0-1')).toBeNull();
  });

  it('ignores malformed ranges', () => {
    expect(parseRangeHeader('bytes=-')).toBeNull();
    expect(parseRangeHeader('bytes=')).toBeNull();
    expect(parseRangeHeader('bytes=a-b')).toBeNull();
    expect(parseRangeHeader('bytes=4-2')).toBeNull();
    expect(parseRangeHeader('bytes=1.5-2')).toBeNull();
    expect(parseRangeHeader('bytes=99999999999999999999-')).toBeNull();
    expect(parseRangeHeader('bytes=0-99999999999999999999')).toBeNull();
  });
});

describe('resolveRange', () => {
  it('keeps a range inside the object', () => {
    expect(resolveRange({ start: 0, end: 4 }, 10)).toEqual({ start: 0, end: 4 });
    expect(resolveRange({ start: 9, end: 9 }, 10)).toEqual({ start: 9, end: 9 });
  });

  it('runs an open range to the last byte', () => {
    expect(resolveRange({ start: 5, end: null }, 10)).toEqual({ start: 5, end: 9 });
    expect(resolveRange({ start: 0, end: null }, 1)).toEqual({ start: 0, end: 0 });
  });

  it('clips an end beyond the size to the last byte', () => {
    expect(resolveRange({ start: 2, end: 100 }, 10)).toEqual({ start: 2, end: 9 });
  });

  it('cannot satisfy a start at or beyond the size', () => {
    expect(resolveRange({ start: 10, end: null }, 10)).toBeNull();
    expect(resolveRange({ start: 11, end: 20 }, 10)).toBeNull();
    expect(resolveRange({ start: 0, end: 0 }, 0)).toBeNull();
  });

  it('takes the last n bytes for a suffix range', () => {
    expect(resolveRange({ suffix: 3 }, 10)).toEqual({ start: 7, end: 9 });
    expect(resolveRange({ suffix: 10 }, 10)).toEqual({ start: 0, end: 9 });
  });

  it('takes the whole object for a suffix longer than it', () => {
    expect(resolveRange({ suffix: 50 }, 10)).toEqual({ start: 0, end: 9 });
  });

  it('cannot satisfy an empty suffix or any suffix of an empty object', () => {
    expect(resolveRange({ suffix: 0 }, 10)).toBeNull();
    expect(resolveRange({ suffix: 5 }, 0)).toBeNull();
  });

  it('works end to end from the header', () => {
    const req = parseRangeHeader('bytes=-4');
    expect(req).not.toBeNull();
    expect(resolveRange(req!, 6)).toEqual({ start: 2, end: 5 });
  });
});
