/** The console's two dictionaries: the same keys, the same placeholders, nothing left empty or untranslated. */
import { describe, expect, it } from 'vitest';
import { en, format, zh, type MessageKey } from '../../console/src/i18n/messages.ts';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('console messages', () => {
  it('has a Chinese text with the same placeholders for every English one', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as MessageKey[]) {
      expect(zh[key].trim(), key).not.toBe('');
      expect(placeholders(zh[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('translates the words people read (only ids, codes and units may stay as in English)', () => {
    const sameOnPurpose = new Set<MessageKey>(['field.id', 'error.status']);
    const same = (Object.keys(en) as MessageKey[]).filter((k) => en[k] === zh[k] && !sameOnPurpose.has(k));
    expect(same).toEqual([]);
  });

  it('fills placeholders with the values as given, and leaves unknown ones visible', () => {
    expect(format('Delete image {name}?', { name: '<b>x</b>' })).toBe('Delete image <b>x</b>?');
    expect(format('{a} and {b}', { a: 1 })).toBe('1 and {b}');
    expect(format('{a}', { a: '$&' })).toBe('$&');
  });
});
