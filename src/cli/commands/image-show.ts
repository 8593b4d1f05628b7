import { one, type CommandSpec } from '../client/command.ts';
import { IMAGE_FIELDS } from './image-view.ts';
import { resolveImage } from './resolve.ts';

export const imageShow: CommandSpec = {
  name: 'image show',
  summary: 'Show all properties of an image',
  positionals: [{ name: 'IMAGE', description: 'Image id, or a name only one image has' }],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveImage(client, one(args, 'IMAGE'));
    ctx.printRecord(await client.GET('/v2/images/{image_id}', { path: { image_id: id } }), IMAGE_FIELDS);
  },
};
