import type { NewImage } from '../../../sdk/client.ts';
import { list, str, type CommandSpec } from '../client/command.ts';
import { UsageError } from '../client/exit-codes.ts';
import { uploadFile } from './image-transfer.ts';
import { IMAGE_FIELDS } from './image-view.ts';
import { intOption, keyValues } from './resolve.ts';

const VISIBILITIES = ['private', 'shared', 'public', 'community'];

export const imageCreate: CommandSpec = {
  name: 'image create',
  summary: 'Create an image (and upload its data with --file)',
  positionals: [{ name: 'NAME', description: 'Image name' }],
  options: {
    'disk-format': {
      type: 'string',
      value: 'FORMAT',
      description: 'raw, qcow2, vmdk, vhd, vhdx, vdi, iso, ...',
    },
    'container-format': {
      type: 'string',
      value: 'FORMAT',
      description: 'bare (default with --file), ovf, ...',
    },
    visibility: { type: 'string', value: 'VIS', description: 'private, shared (default), public, community' },
    'min-disk': { type: 'string', value: 'GB', description: 'Minimum disk to boot it' },
    'min-ram': { type: 'string', value: 'MB', description: 'Minimum RAM to boot it' },
    protected: { type: 'boolean', description: 'Protect it from deletion' },
    tag: { type: 'string', multiple: true, value: 'TAG', description: 'A tag' },
    property: { type: 'string', multiple: true, value: 'KEY=VALUE', description: 'A custom property' },
    id: { type: 'string', value: 'UUID', description: 'Choose the image id' },
    file: {
      type: 'string',
      short: 'f',
      value: 'PATH',
      description: 'Upload this file (- for stdin) after creating',
    },
  },
  examples: ['ims image create cirros --disk-format qcow2 --file cirros.img --tag test'],
  async run(ctx, { options, args }) {
    const visibility = str(options, 'visibility');
    if (visibility !== undefined && !VISIBILITIES.includes(visibility))
      throw new UsageError(`--visibility must be one of ${VISIBILITIES.join(', ')}`);
    const file = str(options, 'file');
    const body: Record<string, unknown> = {
      ...keyValues(list(options, 'property'), '--property'),
      name: args.NAME,
    };
    const set = (key: string, value: unknown) => value !== undefined && (body[key] = value);
    set('id', str(options, 'id'));
    const diskFormat = str(options, 'disk-format');
    set('disk_format', diskFormat);
    // As the OpenStack CLI does: a disk image is "bare" unless told otherwise.
    set('container_format', str(options, 'container-format') ?? (file || diskFormat ? 'bare' : undefined));
    set('visibility', visibility);
    set('min_disk', intOption(str(options, 'min-disk'), '--min-disk'));
    set('min_ram', intOption(str(options, 'min-ram'), '--min-ram'));
    if (options.protected) body.protected = true;
    if (list(options, 'tag').length) body.tags = list(options, 'tag');

    const { client } = await ctx.open();
    let image = await client.POST('/v2/images', { body: body as NewImage });
    if (file) {
      await uploadFile(ctx, client, image.id, file);
      image = await client.GET('/v2/images/{image_id}', { path: { image_id: image.id } });
    }
    ctx.printRecord(image, IMAGE_FIELDS);
  },
};
