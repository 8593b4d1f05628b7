import { one, str, type CommandSpec } from '../client/command.ts';
import { UsageError } from '../client/exit-codes.ts';
import { downloadTo } from './image-transfer.ts';
import { resolveImage } from './resolve.ts';

export const imageDownload: CommandSpec = {
  name: 'image download',
  summary: 'Download image data to a file or stdout, streamed, checksum verified',
  description:
    'The file is written as FILE.part and renamed once complete and its MD5 matches the\n' +
    "image's checksum; a failed download leaves no FILE behind.",
  positionals: [{ name: 'IMAGE', description: 'Image id or name' }],
  options: {
    file: {
      type: 'string',
      short: 'f',
      value: 'PATH',
      description: 'Write here (default: stdout, not a terminal)',
    },
  },
  examples: ['ims image download cirros -f cirros.img', 'ims image download cirros > cirros.img'],
  async run(ctx, args) {
    const file = str(args.options, 'file');
    const toStdout = file === undefined || file === '-';
    if (toStdout && ctx.io.stdout.isTTY)
      throw new UsageError('refusing to write image data to a terminal: use --file');
    if (toStdout && ctx.json) throw new UsageError('--output json needs --file (stdout carries the data)');
    const { client } = await ctx.open();
    const id = await resolveImage(client, one(args, 'IMAGE'));
    const result = await downloadTo(ctx, client, id, toStdout ? undefined : file);
    if (!toStdout) ctx.done(`saved image ${id} to ${file} (${result.bytes} bytes)`, { id, file, ...result });
  },
};
