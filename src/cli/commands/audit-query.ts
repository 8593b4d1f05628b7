import { str, type CommandSpec } from '../client/command.ts';
import type { Column } from '../client/output.ts';
import { UsageError } from '../client/exit-codes.ts';

interface Trace {
  trace_id: string;
  trace_name: string;
  resource_type: string | null;
  resource_id: string | null;
  result: string;
  code: string | null;
  error_code: string | null;
  user: { id: string | null };
  request_id: string | null;
  time: number;
}

interface TracePage {
  traces: Trace[];
  meta_data: { count: number; marker: string | null };
}

const COLUMNS: Column<Trace>[] = [
  { header: 'TIME', value: (t) => new Date(t.time).toISOString() },
  { header: 'OPERATION', value: (t) => t.trace_name },
  { header: 'RESULT', value: (t) => (t.code ? `${t.result} (${t.code})` : t.result) },
  {
    header: 'RESOURCE',
    value: (t) => (t.resource_id ? `${t.resource_type}:${t.resource_id}` : t.resource_type),
  },
  { header: 'USER', value: (t) => t.user.id },
  { header: 'REQUEST', value: (t) => t.request_id },
];

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A time for --from/--to: ISO 8601, UTC milliseconds, or an age such as 30m, 12h, 7d (that long ago). */
export function parseTime(value: string | undefined, option: string, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  const age = /^(\d{1,9})([smhd])$/.exec(value);
  if (age) return String(now - Number(age[1]) * UNITS[age[2]!]!);
  if (/^\d{1,15}$/.test(value)) return value;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms))
    throw new UsageError(
      `${option} takes an ISO 8601 time, UTC milliseconds or an age (30m, 12h, 7d), not "${value}"`,
    );
  return String(ms);
}

export const auditQuery: CommandSpec = {
  name: 'audit query',
  summary: "Query the project's audit events (newest first), with filters and paging",
  description:
    "One page at a time (--limit, default 100): when there are more, the next page's marker is\n" +
    'printed on stderr (table) or in meta_data.marker (JSON); --all follows the markers to the end.',
  options: {
    project: { type: 'string', value: 'ID', description: "Project (default: the profile's; others: admin)" },
    from: {
      type: 'string',
      value: 'TIME',
      description: 'Events at or after: ISO 8601, UTC ms, or an age (7d, 12h, 30m)',
    },
    to: { type: 'string', value: 'TIME', description: 'Events at or before (same forms)' },
    operation: {
      type: 'string',
      value: 'NAME',
      description: 'Operation, e.g. createImage, deleteImage, copyImage',
    },
    resource: { type: 'string', value: 'ID', description: 'Resource id (an image id, ...)' },
    user: { type: 'string', value: 'ID', description: 'User id' },
    job: { type: 'string', value: 'ID', description: 'Job id' },
    limit: { type: 'string', value: 'N', description: 'Events per page, 1-1000 (default 100)' },
    next: { type: 'string', value: 'MARKER', description: "The page after this marker (a previous page's)" },
    all: { type: 'boolean', description: 'Every page, not only the first' },
  },
  examples: [
    'ims audit query --from 1d --operation deleteImage',
    'ims audit query --resource 8a7c... -o json | jq ".traces[].trace_name"',
  ],
  async run(ctx, { options }) {
    const limit = str(options, 'limit');
    if (limit !== undefined && (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000))
      throw new UsageError(`--limit must be 1-1000, not "${limit}"`);
    let next = str(options, 'next');
    if (next !== undefined && !/^\d{1,15}$/.test(next))
      throw new UsageError(`--next takes a marker, not "${next}"`);
    const query: Record<string, string | undefined> = {
      from: parseTime(str(options, 'from'), '--from'),
      to: parseTime(str(options, 'to'), '--to'),
      trace_name: str(options, 'operation'),
      resource_id: str(options, 'resource'),
      user: str(options, 'user'),
      job_id: str(options, 'job'),
      limit,
    };
    const session = await ctx.open();
    const projectId = str(options, 'project') ?? session.projectId();
    const traces: Trace[] = [];
    let marker: string | null = null;
    do {
      const page = (await session.client.GET('/v1/{project_id}/traces', {
        path: { project_id: projectId },
        query: { ...query, next },
      })) as unknown as TracePage;
      traces.push(...page.traces);
      marker = page.meta_data.marker;
      next = marker ?? undefined;
    } while (options.all && marker);
    if (ctx.json) {
      ctx.io.stdout.write(
        `${JSON.stringify({ traces, meta_data: { count: traces.length, marker } }, null, 2)}\n`,
      );
      return;
    }
    ctx.printList(traces, COLUMNS);
    if (marker) ctx.note(`more events: add --next ${marker} (or --all)`);
  },
};
