import type { ImsJob } from '../../../sdk/client.ts';
import { str, type CommandSpec } from '../client/command.ts';
import { UsageError } from '../client/exit-codes.ts';
import type { Column } from '../client/output.ts';
import { intOption, resolveImage } from './resolve.ts';

const STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'];

export const JOB_COLUMNS: Column<ImsJob>[] = [
  { header: 'JOB ID', value: (j) => j.job_id },
  { header: 'TYPE', value: (j) => j.job_type },
  { header: 'STATUS', value: (j) => j.status },
  { header: 'PROGRESS', value: (j) => `${Math.round(j.progress ?? 0)}%` },
  { header: 'IMAGE', value: (j) => j.entities.image_id ?? '' },
  { header: 'BEGIN', value: (j) => j.begin_time },
  // The reason of a failed job, where a script or a person looks first.
  {
    header: 'ERROR',
    value: (j) => (j.status === 'FAIL' ? `${j.error_code ?? ''} ${j.fail_reason ?? ''}`.trim() : ''),
  },
];

export const jobList: CommandSpec = {
  name: 'job list',
  summary: "List your project's jobs, newest first, with the API's filters",
  description:
    'One page (default 100, at most 1000) unless --all follows the pages to the end.\n' +
    'JSON output is the list of jobs as `ims job show -o json` prints each.',
  options: {
    status: { type: 'string', value: 'STATUS', description: 'INIT, RUNNING, SUCCESS or FAIL' },
    type: { type: 'string', value: 'TYPE', description: 'Job type, e.g. imsImportImageJob, imsCopyImageJob' },
    image: { type: 'string', value: 'IMAGE', description: 'Jobs of this image (id or name)' },
    limit: { type: 'string', value: 'N', description: 'Page size (server default 100, at most 1000)' },
    marker: { type: 'string', value: 'JOB', description: 'Id of the last job of the previous page' },
    all: { type: 'boolean', description: 'Follow the pages to the end' },
  },
  examples: ['ims job list --status FAIL', 'ims job list --image cirros -o json', 'ims job list --all'],
  async run(ctx, { options }) {
    const status = str(options, 'status')?.toUpperCase();
    if (status !== undefined && !STATUSES.includes(status))
      throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
    const limit = intOption(str(options, 'limit'), '--limit');
    if (limit === 0) throw new UsageError('--limit must be at least 1');
    const session = await ctx.open();
    const image = str(options, 'image');
    const query = {
      ...(status ? { status: status as ImsJob['status'] } : {}),
      ...(str(options, 'type') ? { job_type: str(options, 'type')! } : {}),
      ...(image ? { image_id: await resolveImage(session.client, image) } : {}),
      ...(limit !== undefined ? { limit: String(limit) } : {}),
    };
    const jobs: ImsJob[] = [];
    let marker = str(options, 'marker');
    for (;;) {
      const page = await session.client.GET('/v1/{project_id}/jobs', {
        path: { project_id: session.projectId() },
        query: { ...query, ...(marker ? { marker } : {}) },
      });
      jobs.push(...page.jobs);
      const last = page.jobs[page.jobs.length - 1];
      if (!options.all || !last) break;
      marker = last.job_id;
    }
    ctx.printList(jobs, JOB_COLUMNS);
  },
};
