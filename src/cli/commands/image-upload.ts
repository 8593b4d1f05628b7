import { one, type CommandSpec } from '../client/command.ts';
import { uploadFile } from './image-transfer.ts';
import { resolveImage } from './resolve.ts';

export const imageUpload: CommandSpec = {
  name: 'image upload',
  summary: 'Upload image data from a file (or - for stdin), streamed, with progress',
  description:
    'Progress goes to stderr: a bar on a terminal, a plain line every IMS_PROGRESS_INTERVAL\n' +
    'seconds (default 5) otherwise; --progress none turns it off.\n' +
    'Files of IMS_UPLOAD_RESUMABLE_THRESHOLD (default 64MiB) or more go up in chunks of\n' +
    'IMS_UPLOAD_CHUNK_SIZE (default 16MiB) through an upload session: a broken connection\n' +
    'retries the chunk, and running the same command again after an interruption sends\n' +
    'only what the server does not have yet.',
  positionals: [
    { name: 'IMAGE', description: 'Image id or name (a queued image)' },
    { name: 'FILE', description: 'Path of the data, or - for stdin' },
  ],
  examples: ['ims image upload cirros ./cirros-0.6.2-x86_64-disk.img'],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveImage(client, one(args, 'IMAGE'));
    await uploadFile(ctx, client, id, one(args, 'FILE'));
    const image = await client.GET('/v2/images/{image_id}', { path: { image_id: id } });
    if (ctx.json) ctx.printRecord(image);
    else ctx.done(`image ${id} is ${image.status} (${image.size ?? 0} bytes, md5 ${image.checksum ?? '-'})`);
  },
};
