import { describe, expect, it } from 'vitest';

import { LIST_LIMITS, normalizeTime, parseImageQuery, parseInList } from '../../src/domain/image-query.ts';
import type { QueryInput } from '../../src/domain/image-query.ts';
import { expectDomainError } from '../helpers/domain.ts';

/** Requires a 400 ValidationFailed and returns its message. */
const badQuery = (input: QueryInput): string =>
  expectDomainError(() => parseImageQuery(input), 'ValidationFailed', 400).message;

describe('parseImageQuery: defaults', () => {
  it("gives Glance's defaults for an empty query", () => {
    expect(parseImageQuery({})).toEqual({
      limit: 25,
      sort: [
        { key: 'created_at', dir: 'desc' },
        { key: 'id', dir: 'desc' },
      ],
      visibility: null,
      memberStatus: 'accepted',
      filters: {
        tags: [],
        osHidden: false,
        createdAt: [],
        updatedAt: [],
        properties: {},
        conditions: [],
        columns: {},
      },
    });
    expect(LIST_LIMITS).toEqual({ default: 25, max: 1000 });
  });
});

describe('parseImageQuery: limit and marker', () => {
  it('takes a limit up to 1000 and caps larger ones', () => {
    expect(parseImageQuery({ limit: '0' }).limit).toBe(0);
    expect(parseImageQuery({ limit: '7' }).limit).toBe(7);
    expect(parseImageQuery({ limit: '1000' }).limit).toBe(1000);
    expect(parseImageQuery({ limit: '1001' }).limit).toBe(1000);
    expect(parseImageQuery({ limit: '99999999999999999999' }).limit).toBe(1000);
  });

  it.each(['-1', 'ten', '1.5', '', '5x'])('refuses limit=%j with a 400', (limit) => {
    expect(badQuery({ limit })).toContain("'limit'");
  });

  it('refuses a repeated limit', () => {
    expect(badQuery({ limit: ['1', '2'] })).toContain("'limit' may be given only once");
  });

  it('passes the marker through', () => {
    expect(parseImageQuery({ marker: 'abc' }).marker).toBe('abc');
    expect(parseImageQuery({})).not.toHaveProperty('marker');
  });
});

describe('parseInList', () => {
  it('splits in: lists on commas', () => {
    expect(parseInList('in:a,b,c')).toEqual(['a', 'b', 'c']);
  });

  it('keeps commas inside double quotes', () => {
    expect(parseInList('in:"a,b",c')).toEqual(['a,b', 'c']);
    expect(parseInList('in:"x y","1,2,3"')).toEqual(['x y', '1,2,3']);
  });

  it('unescapes quotes inside quoted values', () => {
    expect(parseInList('in:"say \\"hi\\"",b')).toEqual(['say "hi"', 'b']);
  });

  it('trims unquoted values and drops empty ones', () => {
    expect(parseInList('in: a , b ')).toEqual(['a', 'b']);
    expect(parseInList('in:a,,b,')).toEqual(['a', 'b']);
    expect(parseInList('in:')).toEqual([]);
  });

  it('treats a value without in: as one literal value, commas included', () => {
    expect(parseInList('a,b')).toEqual(['a,b']);
    expect(parseInList('inside')).toEqual(['inside']);
  });
});

describe('parseImageQuery: filters on base attributes', () => {
  it('reads id, name, container_format and disk_format as lists', () => {
    const { filters } = parseImageQuery({
      id: 'in:1,2',
      name: 'in:"a,b",c',
      container_format: 'bare',
      disk_format: 'in:qcow2,raw',
    });
    expect(filters.ids).toEqual(['1', '2']);
    expect(filters.names).toEqual(['a,b', 'c']);
    expect(filters.containerFormats).toEqual(['bare']);
    expect(filters.diskFormats).toEqual(['qcow2', 'raw']);
  });

  it('leaves filters that were not asked for unset', () => {
    const { filters } = parseImageQuery({});
    for (const k of [
      'ids',
      'names',
      'statuses',
      'containerFormats',
      'diskFormats',
      'owner',
      'sizeMin',
      'sizeMax',
      'protected',
    ]) {
      expect(filters, k).not.toHaveProperty(k);
    }
  });

  it('checks status values', () => {
    expect(parseImageQuery({ status: 'active' }).filters.statuses).toEqual(['active']);
    expect(parseImageQuery({ status: 'in:queued,saving' }).filters.statuses).toEqual(['queued', 'saving']);
    expect(badQuery({ status: 'in:active,bogus' })).toBe("Invalid value for 'status': 'bogus'");
    expect(badQuery({ status: 'ACTIVE' })).toContain("'ACTIVE'");
  });

  it('reads owner', () => {
    expect(parseImageQuery({ owner: 'p-9' }).filters.owner).toBe('p-9');
  });

  it('repeats tag, every tag required', () => {
    expect(parseImageQuery({ tag: 'x86' }).filters.tags).toEqual(['x86']);
    expect(parseImageQuery({ tag: ['x86', '64bit'] }).filters.tags).toEqual(['x86', '64bit']);
  });

  it('reads size_min and size_max as non-negative integers', () => {
    const { filters } = parseImageQuery({ size_min: '0', size_max: '1073741824' });
    expect(filters.sizeMin).toBe(0);
    expect(filters.sizeMax).toBe(1073741824);
  });

  it.each(['-1', '1.5', 'big', '99999999999999999999'])('refuses size_min=%j', (v) => {
    expect(badQuery({ size_min: v })).toContain("'size_min'");
    expect(badQuery({ size_max: v })).toContain("'size_max'");
  });

  it('reads protected as true or false only', () => {
    expect(parseImageQuery({ protected: 'true' }).filters.protected).toBe(true);
    expect(parseImageQuery({ protected: 'false' }).filters.protected).toBe(false);
    for (const v of ['1', 'yes', 'True', '']) {
      expect(badQuery({ protected: v })).toBe(
        `Invalid value '${v}' for 'protected' filter. Valid values are 'true' or 'false'.`,
      );
    }
  });

  it('hides os_hidden images unless asked, accepting true/false in any case', () => {
    expect(parseImageQuery({}).filters.osHidden).toBe(false);
    expect(parseImageQuery({ os_hidden: 'true' }).filters.osHidden).toBe(true);
    expect(parseImageQuery({ os_hidden: 'TRUE' }).filters.osHidden).toBe(true);
    expect(parseImageQuery({ os_hidden: 'False' }).filters.osHidden).toBe(false);
    expect(badQuery({ os_hidden: '1' })).toContain("'os_hidden' filter");
    expect(badQuery({ os_hidden: 'maybe' })).toContain("Invalid value 'maybe'");
  });

  it('refuses the changes-since filter, gone from v2', () => {
    expect(badQuery({ 'changes-since': '2024-01-01T00:00:00Z' })).toContain('changes-since');
  });
});

describe('parseImageQuery: created_at and updated_at', () => {
  it.each(['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const)('reads the %s operator', (op) => {
    expect(parseImageQuery({ created_at: `${op}:2024-01-02T03:04:05Z` }).filters.createdAt).toEqual([
      { op, value: '2024-01-02T03:04:05.000Z' },
    ]);
  });

  it('uses eq without an operator', () => {
    expect(parseImageQuery({ updated_at: '2024-01-02T03:04:05Z' }).filters.updatedAt).toEqual([
      { op: 'eq', value: '2024-01-02T03:04:05.000Z' },
    ]);
  });

  it('normalises zones and precision to UTC milliseconds', () => {
    const { filters } = parseImageQuery({
      created_at: ['gte:2024-01-01T10:00:00+02:00', 'lt:2024-01-01T10:00:00.123456Z'],
      updated_at: 'gt:2024-06-01',
    });
    expect(filters.createdAt).toEqual([
      { op: 'gte', value: '2024-01-01T08:00:00.000Z' },
      { op: 'lt', value: '2024-01-01T10:00:00.123Z' },
    ]);
    expect(filters.updatedAt).toEqual([{ op: 'gt', value: '2024-06-01T00:00:00.000Z' }]);
  });

  it.each([
    'gt:yesterday',
    'between:2024-01-01',
    'gt:',
    '2024-13-01',
    '2024-02-30',
    'gt:2024-01-01T25:00:00Z',
  ])('refuses created_at=%j', (v) => {
    expect(badQuery({ created_at: v })).toContain("Invalid value for 'created_at'");
  });

  it('names updated_at in its own errors', () => {
    expect(badQuery({ updated_at: 'lt:never' })).toContain("'updated_at'");
  });
});

describe('normalizeTime', () => {
  it('normalises the forms ISO 8601 allows', () => {
    expect(normalizeTime('2024-01-01')).toBe('2024-01-01T00:00:00.000Z');
    expect(normalizeTime('2024-01-01T10:00')).toBe('2024-01-01T10:00:00.000Z');
    expect(normalizeTime('2024-01-01 10:00:00')).toBe('2024-01-01T10:00:00.000Z');
    expect(normalizeTime('2024-01-01T10:00:00-05:30')).toBe('2024-01-01T15:30:00.000Z');
    expect(normalizeTime('2024-01-01T10:00:00+0200')).toBe('2024-01-01T08:00:00.000Z');
    expect(normalizeTime('2024-02-29T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
  });

  it('refuses impossible dates instead of rolling them over', () => {
    expect(normalizeTime('2024-02-30')).toBeNull();
    expect(normalizeTime('2023-02-29T00:00:00Z')).toBeNull();
    expect(normalizeTime('2024-04-31')).toBeNull();
    expect(normalizeTime('2024-00-10')).toBeNull();
    expect(normalizeTime('2024-01-01T23:60:00Z')).toBeNull();
    expect(normalizeTime('01/02/2024')).toBeNull();
  });
});

describe('parseImageQuery: sorting', () => {
  it('sorts by one sort_key, desc by default, then created_at and id', () => {
    expect(parseImageQuery({ sort_key: 'name' }).sort).toEqual([
      { key: 'name', dir: 'desc' },
      { key: 'created_at', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ]);
  });

  it('applies a single sort_dir to every key and to the tie-breakers', () => {
    expect(parseImageQuery({ sort_key: ['name', 'size'], sort_dir: 'asc' }).sort).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'asc' },
      { key: 'created_at', dir: 'asc' },
      { key: 'id', dir: 'asc' },
    ]);
  });

  it('pairs repeated sort_key and sort_dir, tie-breakers desc', () => {
    expect(parseImageQuery({ sort_key: ['name', 'size'], sort_dir: ['asc', 'desc'] }).sort).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'desc' },
      { key: 'created_at', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ]);
  });

  it('accepts comma-separated sort_key and sort_dir', () => {
    expect(parseImageQuery({ sort_key: 'name,size', sort_dir: 'asc,desc' }).sort).toEqual(
      parseImageQuery({ sort_key: ['name', 'size'], sort_dir: ['asc', 'desc'] }).sort,
    );
  });

  it('uses a lone sort_dir for the default key', () => {
    expect(parseImageQuery({ sort_dir: 'asc' }).sort).toEqual([
      { key: 'created_at', dir: 'asc' },
      { key: 'id', dir: 'asc' },
    ]);
  });

  it('refuses sort_dir counts that do not match sort_key', () => {
    expect(badQuery({ sort_key: ['name', 'size', 'status'], sort_dir: ['asc', 'desc'] })).toContain(
      'sort_dir',
    );
    expect(badQuery({ sort_dir: ['asc', 'desc'] })).toContain('sort_dir');
  });

  it('reads the sort=key:dir,... form', () => {
    expect(parseImageQuery({ sort: 'name:asc,size' }).sort).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'desc' },
      { key: 'created_at', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ]);
    expect(parseImageQuery({ sort: 'status:asc' }).sort).toEqual([
      { key: 'status', dir: 'asc' },
      { key: 'created_at', dir: 'asc' },
      { key: 'id', dir: 'asc' },
    ]);
  });

  it('does not append keys that are already there', () => {
    expect(parseImageQuery({ sort: 'id:asc' }).sort).toEqual([
      { key: 'id', dir: 'asc' },
      { key: 'created_at', dir: 'asc' },
    ]);
    expect(parseImageQuery({ sort: 'created_at:asc,id:desc' }).sort).toEqual([
      { key: 'created_at', dir: 'asc' },
      { key: 'id', dir: 'desc' },
    ]);
  });

  it('always ends the order with id so that markers page exactly', () => {
    for (const input of [{}, { sort_key: 'size' }, { sort: 'name:asc,status:desc' }, { sort_dir: 'asc' }]) {
      const keys = parseImageQuery(input).sort.map((s) => s.key);
      expect(keys.at(-1), JSON.stringify(input)).toBe('id');
      expect(keys.filter((k) => k === 'id')).toHaveLength(1);
    }
    expect(parseImageQuery({ sort: 'name:asc' }).sort.at(-1)).toEqual({ key: 'id', dir: 'asc' });
  });

  it('refuses mixing sort with sort_key or sort_dir', () => {
    expect(badQuery({ sort: 'name:asc', sort_key: 'size' })).toContain("'sort' parameter cannot be combined");
    expect(badQuery({ sort: 'name:asc', sort_dir: 'asc' })).toContain("'sort' parameter cannot be combined");
  });

  it('refuses unknown sort keys in both forms', () => {
    expect(badQuery({ sort_key: 'color' })).toBe('Invalid sort key: color');
    expect(badQuery({ sort: 'color:asc' })).toBe('Invalid sort key: color');
    expect(badQuery({ sort: '' })).toBe('Invalid sort key: ');
  });

  it('refuses unknown directions in both forms', () => {
    expect(badQuery({ sort_key: 'name', sort_dir: 'up' })).toBe('Invalid sort direction: up');
    expect(badQuery({ sort: 'name:up' })).toBe('Invalid sort direction: up');
    expect(badQuery({ sort: 'name:asc:desc' })).toContain('name:asc:desc');
  });

  it('refuses a key given twice', () => {
    expect(badQuery({ sort_key: ['name', 'name'] })).toBe('Sort key name given more than once');
    expect(badQuery({ sort: 'size:asc,size:desc' })).toBe('Sort key size given more than once');
  });
});

describe('parseImageQuery: visibility and member_status', () => {
  it.each(['public', 'private', 'shared', 'community', 'all'] as const)('accepts visibility=%s', (v) => {
    expect(parseImageQuery({ visibility: v }).visibility).toBe(v);
  });

  it('refuses other visibilities', () => {
    expect(badQuery({ visibility: 'everyone' })).toBe("Invalid value for 'visibility': 'everyone'");
    expect(badQuery({ visibility: 'Public' })).toContain("'visibility'");
  });

  it.each(['pending', 'accepted', 'rejected', 'all'] as const)('accepts member_status=%s', (v) => {
    expect(parseImageQuery({ member_status: v }).memberStatus).toBe(v);
  });

  it('refuses other member statuses', () => {
    expect(badQuery({ member_status: 'declined' })).toBe("Invalid value for 'member_status': 'declined'");
  });
});

describe('parseImageQuery: custom properties', () => {
  it('turns unknown parameters into exact property filters', () => {
    expect(
      parseImageQuery({ os_distro: 'ubuntu', hw_disk_bus: 'scsi', limit: '5' }).filters.properties,
    ).toEqual({
      os_distro: 'ubuntu',
      hw_disk_bus: 'scsi',
    });
  });

  it('does not take in: lists for custom properties', () => {
    expect(parseImageQuery({ os_distro: 'in:a,b' }).filters.properties).toEqual({ os_distro: 'in:a,b' });
  });

  it('never turns a known parameter into a property filter', () => {
    const q = parseImageQuery({
      limit: '1',
      marker: 'm',
      sort_key: 'name',
      sort_dir: 'asc',
      visibility: 'all',
      member_status: 'all',
      id: 'i',
      name: 'n',
      status: 'active',
      container_format: 'bare',
      disk_format: 'raw',
      owner: 'o',
      tag: 't',
      size_min: '1',
      size_max: '2',
      protected: 'true',
      os_hidden: 'false',
      created_at: '2024-01-01',
      updated_at: '2024-01-01',
    });
    expect(q.filters.properties).toEqual({});
  });

  it('refuses a repeated custom property', () => {
    expect(badQuery({ os_distro: ['a', 'b'] })).toContain("'os_distro' may be given only once");
  });
});
