import { str, type CommandSpec } from '../client/command.ts';
import { EXIT, UsageError } from '../client/exit-codes.ts';
import { printJob, WAIT_OPTIONS, waitForJob, waitSettings } from './job-wait.ts';
import { resolveImage } from './resolve.ts';

const FORMATS = ['qcow2', 'vhd', 'zvhd', 'vmdk'];

export const imageExport: CommandSpec = {
  name: 'image export',
  summary: 'Export an image to a new object in a bucket of the object store granted to your project',
  description:
    'Without --format the stored bytes are exported unchanged (IMS quick export); with it the\n' +
    'server converts them. The object must not exist yet. Prints the job id (JSON: {"job_id"});\n' +
    'with --wait, follows the job with a progress bar and prints it when it ends: exit 5 if it\n' +
    'fails, 6 on timeout.',
  positionals: [{ name: 'IMAGE', description: 'Image id or name' }],
  options: {
    bucket: { type: 'string', value: 'BUCKET', description: 'Bucket granted to your project (required)' },
    object: { type: 'string', value: 'OBJECT', description: 'Name of the new object (required)' },
    format: { type: 'string', value: 'FORMAT', description: `File format: ${FORMATS.join(', ')}` },
    wait: { type: 'boolean', short: 'w', description: 'Wait for the export job to end' },
    ...WAIT_OPTIONS,
  },
  examples: [
    'ims image export cirros --bucket backups --object cirros.qcow2 --format qcow2 --wait',
    'ims image export 8a7c... --bucket backups --object disk.img',
  ],
  async run(ctx, { options, args }) {
    const settings = waitSettings(options);
    const bucket = str(options, 'bucket');
    const object = str(options, 'object');
    if (!bucket) throw new UsageError('--bucket is required');
    if (!object) throw new UsageError('--object is required');
    const format = str(options, 'format');
    if (format !== undefined && !FORMATS.includes(format))
      throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
    const session = await ctx.open();
    const id = await resolveImage(session.client, args.IMAGE as string);
    const { job_id: jobId } = (await session.client.POST('/v1/cloudimages/{image_id}/file', {
      path: { image_id: id },
      body: {
        bucket_url: `${bucket}:${object}`,
        ...(format ? { file_format: format } : { is_quick_export: true }),
      },
    })) as unknown as { job_id: string };
    if (!options.wait) {
      ctx.done(`export of ${id} started: job ${jobId} (follow it with \`ims job wait ${jobId}\`)`, {
        job_id: jobId,
      });
      return EXIT.ok;
    }
    const job = await waitForJob(ctx, session, jobId, settings, `export ${jobId}`);
    printJob(ctx, job);
    return EXIT.ok;
  },
};
