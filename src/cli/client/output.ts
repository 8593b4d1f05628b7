/** Table and detail rendering for `--output table`; JSON is printed as the API returned it. */

export type OutputFormat = 'table' | 'json';

/**
 * Control characters (ANSI escapes, carriage returns) in names and tags are shown escaped:
 * a hostile image name must not rewrite the user's terminal.
 */
export function safeText(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text =
    typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => safeText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** `field  value` lines for one object, keys in the given order then the rest sorted. */
export function renderDetails(record: Record<string, unknown>, first: readonly string[] = []): string {
  const keys = [
    ...first.filter((k) => k in record),
    ...Object.keys(record)
      .filter((k) => !first.includes(k))
      .sort(),
  ];
  return renderTable(
    keys.map((k) => [k, record[k]] as const),
    [
      { header: 'FIELD', value: (r) => r[0] },
      { header: 'VALUE', value: (r) => (Array.isArray(r[1]) ? r[1].join(', ') : r[1]) },
    ],
  );
}

/** Bytes for people: 1536 → "1.5 KiB". */
export function humanBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}
