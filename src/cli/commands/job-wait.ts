import { setTimeout as sleep } from 'node:timers/promises';
import { one, str, type CommandSpec } from '../client/command.ts';
import { EXIT, ExitError, UsageError } from '../client/exit-codes.ts';
import { JOB_FIELDS, jobRecord } from './job-show.ts';

export const jobWait: CommandSpec = {
  name: 'job wait',
  summary: 'Wait for a job to end, showing its progress; exit 0 on SUCCESS, 5 on FAIL, 6 on timeout',
  positionals: [{ name: 'JOB', description: 'Job id' }],
  options: {
    timeout: {
      type: 'string',
      value: 'SECONDS',
      description: 'Give up after this long (default 3600; 0: never)',
    },
    interval: { type: 'string', value: 'SECONDS', description: 'Time between polls (default 2)' },
  },
  examples: ['ims job wait 8a7c... && echo imported'],
  async run(ctx, args) {
    const timeout = Number(str(args.options, 'timeout') ?? '3600');
    const interval = Number(str(args.options, 'interval') ?? '2');
    if (!(timeout >= 0)) throw new UsageError('--timeout must be a number of seconds');
    if (!(interval > 0) || interval > 3600) throw new UsageError('--interval must be 0-3600 seconds');
    const session = await ctx.open();
    const path = { project_id: session.projectId(), job_id: one(args, 'JOB') };
    const deadline = timeout ? Date.now() + timeout * 1000 : Infinity;
    const progress = ctx.progress({ label: `job ${path.job_id}`, total: 100, unit: 'percent' });
    for (;;) {
      const job = await session.client
        .GET('/v1/{project_id}/jobs/{job_id}', { path })
        .catch((err: unknown) => {
          progress.abort();
          throw err;
        });
      progress.set(job.progress ?? 0);
      if (job.status === 'SUCCESS' || job.status === 'FAIL') {
        if (job.status === 'SUCCESS') progress.finish(`job ${job.job_id}: SUCCESS`);
        else progress.abort();
        if (ctx.json) ctx.printRecord(job);
        else ctx.printRecord(jobRecord(job), JOB_FIELDS);
        if (job.status === 'FAIL')
          throw new ExitError(
            `job ${job.job_id} failed: ${job.fail_reason ?? job.error_code ?? 'no reason given'}`,
            EXIT.jobFailed,
          );
        return EXIT.ok;
      }
      if (Date.now() >= deadline) {
        progress.abort();
        throw new ExitError(`job ${job.job_id} is still ${job.status} after ${timeout} s`, EXIT.timeout);
      }
      await sleep(Math.min(interval * 1000, deadline - Date.now()));
    }
  },
};
