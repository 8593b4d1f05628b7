import { setTimeout as sleep } from 'node:timers/promises';
import type { ImsJob } from '../../../sdk/client.ts';
import { one, str, type CommandSpec, type OptionSpec, type OptionValues } from '../client/command.ts';
import type { CommandContext } from '../client/context.ts';
import { EXIT, ExitError, UsageError } from '../client/exit-codes.ts';
import type { Session } from '../client/session.ts';
import { JOB_FIELDS, jobRecord } from './job-show.ts';

/** --timeout and --interval, shared by every command that waits for a job. */
export const WAIT_OPTIONS: Record<string, OptionSpec> = {
  timeout: {
    type: 'string',
    value: 'SECONDS',
    description: 'Give up waiting after this long (default 3600; 0: never); exit 6',
  },
  interval: { type: 'string', value: 'SECONDS', description: 'Time between polls (default 2)' },
};

export interface WaitSettings {
  timeout: number;
  interval: number;
}

export function waitSettings(options: OptionValues): WaitSettings {
  const timeout = Number(str(options, 'timeout') ?? '3600');
  const interval = Number(str(options, 'interval') ?? '2');
  if (!(timeout >= 0)) throw new UsageError('--timeout must be a number of seconds');
  if (!(interval > 0) || interval > 3600) throw new UsageError('--interval must be 0-3600 seconds');
  return { timeout, interval };
}

/**
 * Polls a job until it ends, with a progress bar (or plain lines off a terminal) on stderr.
 * Resolves with the SUCCESS job; a FAIL job exits 5 and a timeout 6, with the reason.
 */
export async function waitForJob(
  ctx: CommandContext,
  session: Session,
  jobId: string,
  settings: WaitSettings,
  label = `job ${jobId}`,
): Promise<ImsJob> {
  const path = { project_id: session.projectId(), job_id: jobId };
  const deadline = settings.timeout ? Date.now() + settings.timeout * 1000 : Infinity;
  const progress = ctx.progress({ label, total: 100, unit: 'percent' });
  for (;;) {
    const job = await session.client.GET('/v1/{project_id}/jobs/{job_id}', { path }).catch((err: unknown) => {
      progress.abort();
      throw err;
    });
    progress.set(job.progress ?? 0);
    if (job.status === 'SUCCESS') {
      progress.finish(`${label}: SUCCESS`);
      return job;
    }
    if (job.status === 'FAIL') {
      progress.abort();
      printJob(ctx, job);
      throw new ExitError(
        `job ${job.job_id} failed: ${job.fail_reason ?? job.error_code ?? 'no reason given'}`,
        EXIT.jobFailed,
      );
    }
    if (Date.now() >= deadline) {
      progress.abort();
      throw new ExitError(
        `job ${job.job_id} is still ${job.status} after ${settings.timeout} s`,
        EXIT.timeout,
      );
    }
    await sleep(Math.min(settings.interval * 1000, deadline - Date.now()));
  }
}

export function printJob(ctx: CommandContext, job: ImsJob): void {
  if (ctx.json) ctx.printRecord(job);
  else ctx.printRecord(jobRecord(job), JOB_FIELDS);
}

export const jobWait: CommandSpec = {
  name: 'job wait',
  summary: 'Wait for a job to end, showing its progress; exit 0 on SUCCESS, 5 on FAIL, 6 on timeout',
  positionals: [{ name: 'JOB', description: 'Job id' }],
  options: WAIT_OPTIONS,
  examples: ['ims job wait 8a7c... && echo imported'],
  async run(ctx, args) {
    const settings = waitSettings(args.options);
    const session = await ctx.open();
    const job = await waitForJob(ctx, session, one(args, 'JOB'), settings);
    printJob(ctx, job);
    return EXIT.ok;
  },
};
