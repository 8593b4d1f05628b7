import { describe, expect, it } from 'vitest';
import {
  assertComplete,
  chunkSpan,
  clientRef,
  MAX_CHUNKS_PER_SESSION,
  mergedRanges,
  missingRanges,
  placeChunk,
  sessionSize,
} from '../../src/domain/upload-session.ts';
import { DomainError } from '../../src/domain/errors.ts';

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return (err as DomainError).code;
  }
  return 'accepted';
};

describe('upload session rules', () => {
  it('places a chunk by Content-Range or by offset and length', () => {
    expect(chunkSpan({ contentRange: 'bytes 0-99/1000' }, 1000)).toEqual({ start: 0, end: 100 });
    expect(chunkSpan({ contentRange: 'bytes 900-999/*', contentLength: '100' }, 1000)).toEqual({
      start: 900,
      end: 1000,
    });
    expect(chunkSpan({ offset: '10', contentLength: '5' }, 1000)).toEqual({ start: 10, end: 15 });
  });

  it('refuses malformed, inconsistent, empty and out-of-bounds chunks', () => {
    const size = 1000;
    for (const contentRange of [
      'bytes=0-9',
      'bytes 9-0/1000',
      'bytes -1-5/1000',
      'items 0-1/1000',
      'bytes 0-1',
    ]) {
      expect(
        codeOf(() => chunkSpan({ contentRange }, size)),
        contentRange,
      ).toBe('BadRequest');
    }
    expect(codeOf(() => chunkSpan({ contentRange: 'bytes 0-9/999' }, size))).toBe('BadRequest');
    expect(codeOf(() => chunkSpan({ contentRange: 'bytes 0-9/1000', contentLength: '11' }, size))).toBe(
      'BadRequest',
    );
    expect(codeOf(() => chunkSpan({ contentRange: 'bytes 0-9/1000', offset: '1' }, size))).toBe('BadRequest');
    expect(codeOf(() => chunkSpan({ offset: '0' }, size))).toBe('LengthRequired');
    expect(codeOf(() => chunkSpan({ offset: '-1', contentLength: '1' }, size))).toBe('BadRequest');
    expect(codeOf(() => chunkSpan({ offset: '0', contentLength: '0' }, size))).toBe('BadRequest');
    expect(codeOf(() => chunkSpan({}, size))).toBe('BadRequest');
    expect(codeOf(() => chunkSpan({ contentRange: 'bytes 990-1000/1000' }, size))).toBe(
      'RangeNotSatisfiable',
    );
    expect(codeOf(() => chunkSpan({ offset: '99999999999999999', contentLength: '1' }, size))).toBe(
      'BadRequest',
    );
  });

  it('accepts the same range again, refuses overlaps, and bounds the chunk count', () => {
    const got = [
      { start: 0, end: 10 },
      { start: 20, end: 30 },
    ];
    expect(placeChunk(got, { start: 0, end: 10 })).toBe('duplicate');
    expect(placeChunk(got, { start: 10, end: 20 })).toBe('new');
    expect(codeOf(() => placeChunk(got, { start: 5, end: 15 }))).toBe('Conflict');
    expect(codeOf(() => placeChunk(got, { start: 0, end: 5 }))).toBe('Conflict');
    expect(codeOf(() => placeChunk(got, { start: 25, end: 26 }))).toBe('Conflict');
    const many = Array.from({ length: MAX_CHUNKS_PER_SESSION }, (_, i) => ({ start: i, end: i + 1 }));
    expect(
      codeOf(() => placeChunk(many, { start: MAX_CHUNKS_PER_SESSION, end: MAX_CHUNKS_PER_SESSION + 1 })),
    ).toBe('BadRequest');
  });

  it('merges what arrived and names what is missing', () => {
    const got = [
      { start: 20, end: 30 },
      { start: 0, end: 10 },
      { start: 10, end: 15 },
    ];
    expect(mergedRanges(got)).toEqual([
      { start: 0, end: 15 },
      { start: 20, end: 30 },
    ]);
    expect(missingRanges(got, 40)).toEqual([
      { start: 15, end: 20 },
      { start: 30, end: 40 },
    ]);
    expect(missingRanges([], 5)).toEqual([{ start: 0, end: 5 }]);
    expect(codeOf(() => assertComplete(got, 40))).toBe('Conflict');
    expect(codeOf(() => assertComplete(got, 30))).toBe('Conflict');
    expect(codeOf(() => assertComplete([...got, { start: 15, end: 20 }], 30))).toBe('accepted');
  });

  it('checks the declared size and the client label', () => {
    expect(sessionSize({ size: 10 }, 100)).toBe(10);
    for (const body of [null, {}, { size: 0 }, { size: 1.5 }, { size: '10' }, { size: 2 ** 60 }]) {
      expect(
        codeOf(() => sessionSize(body, 2 ** 62)),
        JSON.stringify(body),
      ).toBe('BadRequest');
    }
    expect(codeOf(() => sessionSize({ size: 101 }, 100))).toBe('PayloadTooLarge');
    expect(clientRef({ size: 1 })).toBeNull();
    expect(clientRef({ client_ref: 'ims-cli:abc' })).toBe('ims-cli:abc');
    expect(codeOf(() => clientRef({ client_ref: 'x'.repeat(256) }))).toBe('BadRequest');
    expect(codeOf(() => clientRef({ client_ref: 'a\nb' }))).toBe('BadRequest');
    expect(codeOf(() => clientRef({ client_ref: 5 }))).toBe('BadRequest');
  });
});
