import type { ImsJob } from '../../../sdk/client.ts';
import { one, type CommandSpec } from '../client/command.ts';

export const JOB_FIELDS = [
  'job_id',
  'job_type',
  'status',
  'progress',
  'begin_time',
  'end_time',
  'error_code',
  'fail_reason',
];

/** The job without the raw entities map, flattened for the table view. */
export function jobRecord(job: ImsJob): Record<string, unknown> {
  const { entities, ...rest } = job;
  return { ...rest, ...Object.fromEntries(Object.entries(entities).map(([k, v]) => [`entities.${k}`, v])) };
}

export const jobShow: CommandSpec = {
  name: 'job show',
  summary: 'Show a job (import, conversion, copy, export...) with its progress',
  positionals: [{ name: 'JOB', description: 'Job id' }],
  async run(ctx, args) {
    const session = await ctx.open();
    const job = await session.client.GET('/v1/{project_id}/jobs/{job_id}', {
      path: { project_id: session.projectId(), job_id: one(args, 'JOB') },
    });
    if (ctx.json) ctx.printRecord(job);
    else ctx.printRecord(jobRecord(job), JOB_FIELDS);
  },
};
