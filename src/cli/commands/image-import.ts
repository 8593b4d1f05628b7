import { setTimeout as sleep } from 'node:timers/promises';
import type { NewImage } from '../../../sdk/client.ts';
import { list, str, type CommandSpec } from '../client/command.ts';
import type { CommandContext } from '../client/context.ts';
import { EXIT, ExitError, UsageError } from '../client/exit-codes.ts';
import type { Session } from '../client/session.ts';
import { IMAGE_FIELDS } from './image-view.ts';
import { WAIT_OPTIONS, waitForJob, waitSettings } from './job-wait.ts';
import { keyValues, resolveImage } from './resolve.ts';

const VISIBILITIES = ['private', 'shared', 'public', 'community'];

/** The import's job: its Glance task, which the server lists a moment after accepting the import. */
async function importJobId(session: Session, imageId: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const { tasks } = (await session.client.GET('/v2/images/{image_id}/tasks', {
      path: { image_id: imageId },
    })) as unknown as { tasks: { id: string }[] };
    if (tasks[0]) return tasks[0].id;
    await sleep(100);
  }
  throw new ExitError(`the server lists no import task for image ${imageId}`, EXIT.api);
}

async function printImage(ctx: CommandContext, session: Session, imageId: string): Promise<void> {
  const image = await session.client.GET('/v2/images/{image_id}', { path: { image_id: imageId } });
  ctx.printRecord(image, IMAGE_FIELDS);
}

export const imageImport: CommandSpec = {
  name: 'image import',
  summary: 'Create an image whose data the server downloads from a URL (Glance web-download)',
  description:
    'Creates the image (or takes a queued one with --image) and starts the import; the server\n' +
    'checks that the data is in the declared --disk-format. Prints the image; the import job id\n' +
    'goes to stderr. With --wait, follows the job with a progress bar and prints the image once\n' +
    'active: exit 5 if the import fails (its reason on stderr), 6 on timeout.',
  positionals: [{ name: 'NAME', optional: true, description: 'Name of the new image (not with --image)' }],
  options: {
    url: { type: 'string', value: 'URL', description: 'http or https URL of the image data (required)' },
    image: {
      type: 'string',
      value: 'IMAGE',
      description: 'Import into this queued image instead of a new one',
    },
    'disk-format': {
      type: 'string',
      value: 'FORMAT',
      description: 'Declared format: qcow2, raw, vmdk, vhd, vhdx, vdi, iso, ... (default qcow2)',
    },
    'container-format': { type: 'string', value: 'FORMAT', description: 'bare (default), ovf, ...' },
    visibility: { type: 'string', value: 'VIS', description: 'private, shared (default), public, community' },
    tag: { type: 'string', multiple: true, value: 'TAG', description: 'A tag' },
    property: { type: 'string', multiple: true, value: 'KEY=VALUE', description: 'A custom property' },
    wait: { type: 'boolean', short: 'w', description: 'Wait for the import to end' },
    ...WAIT_OPTIONS,
  },
  examples: [
    'ims image import cirros --url https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img --wait',
    'ims image import --image 8a7c... --url https://example.com/disk.raw',
  ],
  async run(ctx, { options, args }) {
    const settings = waitSettings(options);
    const url = str(options, 'url');
    if (!url) throw new UsageError('--url is required');
    if (!/^https?:\/\/[^/]/i.test(url))
      throw new UsageError(`--url must be an http or https URL, not "${url}"`);
    const existing = str(options, 'image');
    const name = args.NAME as string | undefined;
    if (existing && name) throw new UsageError('give either NAME (a new image) or --image, not both');
    if (!existing && !name) throw new UsageError('missing argument NAME (or --image for an existing image)');
    const visibility = str(options, 'visibility');
    if (visibility !== undefined && !VISIBILITIES.includes(visibility))
      throw new UsageError(`--visibility must be one of ${VISIBILITIES.join(', ')}`);

    const session = await ctx.open();
    const { client } = session;
    let imageId: string;
    if (existing) imageId = await resolveImage(client, existing);
    else {
      const body: Record<string, unknown> = {
        ...keyValues(list(options, 'property'), '--property'),
        name,
        disk_format: str(options, 'disk-format') ?? 'qcow2',
        container_format: str(options, 'container-format') ?? 'bare',
      };
      if (visibility) body.visibility = visibility;
      if (list(options, 'tag').length) body.tags = list(options, 'tag');
      imageId = (await client.POST('/v2/images', { body: body as NewImage })).id;
    }
    await client.POST('/v2/images/{image_id}/import', {
      path: { image_id: imageId },
      body: { method: { name: 'web-download', uri: url } },
    });
    const jobId = await importJobId(session, imageId);
    if (!options.wait) {
      ctx.note(`import job ${jobId} started (follow it with \`ims job wait ${jobId}\`)`);
      await printImage(ctx, session, imageId);
      return EXIT.ok;
    }
    await waitForJob(ctx, session, jobId, settings, `import ${imageId}`);
    await printImage(ctx, session, imageId);
    return EXIT.ok;
  },
};
