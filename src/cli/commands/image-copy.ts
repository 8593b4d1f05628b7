import { str, type CommandSpec } from '../client/command.ts';
import { EXIT, UsageError } from '../client/exit-codes.ts';
import { printJob, WAIT_OPTIONS, waitForJob, waitSettings } from './job-wait.ts';
import { resolveImage } from './resolve.ts';

export const imageCopy: CommandSpec = {
  name: 'image copy',
  summary:
    'Copy an image in the region, or with --region to a peer region: a new private image, made by a job',
  description:
    'Prints the job id (JSON: {"job_id"}); with --wait, follows the job with a progress bar and\n' +
    'prints it when it ends (the new image is entities.image_id): exit 5 if it fails, 6 on timeout.\n' +
    'An image shared with you must be accepted first.\n' +
    'With --region (IMS CopyImageCrossRegion) the copy is made in --project-name of your account\n' +
    'there, through the trust --agency the operator configured for that region.',
  positionals: [
    { name: 'IMAGE', description: 'Image id or name (the source)' },
    {
      name: 'NAME',
      description: 'Name of the copy: 1-128 letters, digits, spaces, "-", "_" or "."',
    },
  ],
  options: {
    description: { type: 'string', value: 'TEXT', description: 'Description of the copy (at most 1024)' },
    region: { type: 'string', value: 'REGION', description: 'Copy to this peer region' },
    'project-name': {
      type: 'string',
      value: 'PROJECT',
      description: 'With --region: the project there (required with --region)',
    },
    agency: {
      type: 'string',
      value: 'AGENCY',
      description: 'With --region: the agency (trust) name for that region (required with --region)',
    },
    wait: { type: 'boolean', short: 'w', description: 'Wait for the copy job to end' },
    ...WAIT_OPTIONS,
  },
  examples: [
    'ims image copy cirros cirros-backup --wait',
    'ims image copy 8a7c... gold --description "golden image"',
    'ims image copy cirros cirros --region eu-west-2 --project-name eu-west-2 --agency ims_admin_agency --wait',
  ],
  async run(ctx, { options, args }) {
    const settings = waitSettings(options);
    const region = str(options, 'region');
    const projectName = str(options, 'project-name');
    const agency = str(options, 'agency');
    if (region !== undefined && (!projectName || !agency))
      throw new UsageError('--region needs --project-name and --agency');
    if (region === undefined && (projectName !== undefined || agency !== undefined))
      throw new UsageError('--project-name and --agency go with --region');
    const session = await ctx.open();
    const id = await resolveImage(session.client, args.IMAGE as string);
    const description = str(options, 'description');
    const body = { name: args.NAME as string, ...(description !== undefined ? { description } : {}) };
    const { job_id: jobId } = (region !== undefined
      ? await session.client.POST('/v1/cloudimages/{image_id}/cross_region_copy', {
          path: { image_id: id },
          body: { ...body, region, project_name: projectName!, agency_name: agency! },
        })
      : await session.client.POST('/v1/cloudimages/{image_id}/copy', {
          path: { image_id: id },
          body,
        })) as unknown as { job_id: string };
    if (!options.wait) {
      ctx.done(
        `copy of ${id}${region ? ` to ${region}` : ''} started: job ${jobId} (follow it with \`ims job wait ${jobId}\`)`,
        {
          job_id: jobId,
        },
      );
      return EXIT.ok;
    }
    const job = await waitForJob(ctx, session, jobId, settings, `copy ${jobId}`);
    printJob(ctx, job);
    return EXIT.ok;
  },
};
