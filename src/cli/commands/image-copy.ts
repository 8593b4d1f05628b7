import { str, type CommandSpec } from '../client/command.ts';
import { EXIT } from '../client/exit-codes.ts';
import { printJob, WAIT_OPTIONS, waitForJob, waitSettings } from './job-wait.ts';
import { resolveImage } from './resolve.ts';

export const imageCopy: CommandSpec = {
  name: 'image copy',
  summary: 'Copy an image in the region: a new private image of your project, made by a job',
  description:
    'Prints the job id (JSON: {"job_id"}); with --wait, follows the job with a progress bar and\n' +
    'prints it when it ends (the new image is entities.image_id): exit 5 if it fails, 6 on timeout.\n' +
    'An image shared with you must be accepted first.',
  positionals: [
    { name: 'IMAGE', description: 'Image id or name (the source)' },
    {
      name: 'NAME',
      description: 'Name of the copy: 1-128 letters, digits, spaces, "-", "_" or "."',
    },
  ],
  options: {
    description: { type: 'string', value: 'TEXT', description: 'Description of the copy (at most 1024)' },
    wait: { type: 'boolean', short: 'w', description: 'Wait for the copy job to end' },
    ...WAIT_OPTIONS,
  },
  examples: [
    'ims image copy cirros cirros-backup --wait',
    'ims image copy 8a7c... gold --description "golden image"',
  ],
  async run(ctx, { options, args }) {
    const settings = waitSettings(options);
    const session = await ctx.open();
    const id = await resolveImage(session.client, args.IMAGE as string);
    const description = str(options, 'description');
    const { job_id: jobId } = (await session.client.POST('/v1/cloudimages/{image_id}/copy', {
      path: { image_id: id },
      body: { name: args.NAME as string, ...(description !== undefined ? { description } : {}) },
    })) as unknown as { job_id: string };
    if (!options.wait) {
      ctx.done(`copy of ${id} started: job ${jobId} (follow it with \`ims job wait ${jobId}\`)`, {
        job_id: jobId,
      });
      return EXIT.ok;
    }
    const job = await waitForJob(ctx, session, jobId, settings, `copy ${jobId}`);
    printJob(ctx, job);
    return EXIT.ok;
  },
};
