import { setTimeout as sleep } from 'node:timers/promises';
import type { NewImage } from '../../../sdk/client.ts';
import { list, str, type CommandSpec, type OptionValues } from '../client/command.ts';
import type { CommandContext } from '../client/context.ts';
import { EXIT, ExitError, UsageError } from '../client/exit-codes.ts';
import type { Session } from '../client/session.ts';
import { IMAGE_FIELDS } from './image-view.ts';
import { WAIT_OPTIONS, waitForJob, waitSettings } from './job-wait.ts';
import { intOption, keyValues, resolveImage } from './resolve.ts';

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

const OBJECT_ONLY = ['os-type', 'os-version', 'min-disk', 'description'];
const OS_TYPES = ['Linux', 'Windows', 'Other'];

/** IMS CreateImage from `bucket:object` (or RegisterImage into a queued image with --image). */
async function importObject(
  ctx: CommandContext,
  options: OptionValues,
  name: string | undefined,
  object: string,
): Promise<number> {
  const settings = waitSettings(options);
  if (!/^[^:]+:.+$/.test(object)) throw new UsageError(`--object takes BUCKET:OBJECT, not "${object}"`);
  const existing = str(options, 'image');
  if (existing && name) throw new UsageError('give either NAME (a new image) or --image, not both');
  if (!existing && !name) throw new UsageError('missing argument NAME (or --image for an existing image)');
  const osType = str(options, 'os-type');
  if (osType !== undefined && !OS_TYPES.includes(osType))
    throw new UsageError(`--os-type must be one of ${OS_TYPES.join(', ')}`);
  for (const glanceOnly of ['disk-format', 'container-format', 'visibility', 'tag', 'property'])
    if (options[glanceOnly] !== undefined) throw new UsageError(`--${glanceOnly} goes with --url`);
  if (existing && OBJECT_ONLY.some((o) => options[o] !== undefined))
    throw new UsageError('--image registers the file into the queued image as it is: no other options');
  const minDisk = intOption(str(options, 'min-disk'), '--min-disk') ?? 40;
  const session = await ctx.open();
  const { client } = session;
  let jobId: string;
  if (existing) {
    const imageId = await resolveImage(client, existing);
    ({ job_id: jobId } = (await client.PUT('/v1/cloudimages/{image_id}/upload', {
      path: { image_id: imageId },
      body: { image_url: object },
    })) as unknown as { job_id: string });
  } else {
    const description = str(options, 'description');
    const osVersion = str(options, 'os-version');
    ({ job_id: jobId } = (await client.POST('/v2/cloudimages/action', {
      body: {
        name: name!,
        image_url: object,
        min_disk: minDisk,
        ...(osType ? { os_type: osType } : {}),
        ...(osVersion ? { os_version: osVersion } : {}),
        ...(description !== undefined ? { description } : {}),
      },
    })) as unknown as { job_id: string });
  }
  if (!options.wait) {
    ctx.done(`import job ${jobId} started (follow it with \`ims job wait ${jobId}\`)`, { job_id: jobId });
    return EXIT.ok;
  }
  const job = await waitForJob(ctx, session, jobId, settings, `import ${jobId}`);
  await printImage(ctx, session, job.entities.image_id as string);
  return EXIT.ok;
}

export const imageImport: CommandSpec = {
  name: 'image import',
  summary: 'Create an image from a URL (Glance web-download) or from a file in the object store',
  description:
    'With --url: creates the image (or takes a queued one with --image) and starts the import; the\n' +
    'server checks that the data is in the declared --disk-format. Prints the image; the import job\n' +
    'id goes to stderr.\n' +
    'With --object BUCKET:OBJECT (a bucket granted to your project): IMS CreateImage, or with --image\n' +
    "IMS RegisterImage into a queued image; the object name's extension names the format (.qcow2,\n" +
    '.vhd, .vmdk, .raw, ...). Prints the job id (JSON: {"job_id"}).\n' +
    'With --wait, follows the job with a progress bar and prints the image once active: exit 5 if\n' +
    'the import fails (its reason on stderr), 6 on timeout.',
  positionals: [{ name: 'NAME', optional: true, description: 'Name of the new image (not with --image)' }],
  options: {
    url: { type: 'string', value: 'URL', description: 'http or https URL of the image data' },
    object: {
      type: 'string',
      value: 'BUCKET:OBJECT',
      description: 'A file in the object store instead of a URL',
    },
    'os-type': {
      type: 'string',
      value: 'TYPE',
      description: 'With --object: Linux (default), Windows or Other',
    },
    'os-version': {
      type: 'string',
      value: 'VERSION',
      description: 'With --object: e.g. "Ubuntu 22.04 64bit" (ims: GET /v1/cloudimages/os_version)',
    },
    'min-disk': {
      type: 'string',
      value: 'GB',
      description: 'With --object: system disk size, 1-1024 (default 40)',
    },
    description: { type: 'string', value: 'TEXT', description: 'With --object: description (at most 1024)' },
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
    'ims image import noble --object images:noble.qcow2 --os-type Linux --min-disk 10 --wait',
  ],
  async run(ctx, { options, args }) {
    const settings = waitSettings(options);
    const url = str(options, 'url');
    const object = str(options, 'object');
    if (url && object) throw new UsageError('give either --url or --object, not both');
    if (object) return importObject(ctx, options, args.NAME as string | undefined, object);
    if (!url) throw new UsageError('--url or --object is required');
    for (const only of OBJECT_ONLY)
      if (options[only] !== undefined) throw new UsageError(`--${only} goes with --object`);
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
