import { many, type CommandSpec } from '../client/command.ts';
import { resolveImage } from './resolve.ts';

export const imageDelete: CommandSpec = {
  name: 'image delete',
  summary: 'Delete images (and their data)',
  positionals: [{ name: 'IMAGE', variadic: true, description: 'Image ids or names' }],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const deleted: string[] = [];
    for (const ref of many(args, 'IMAGE')) {
      const id = await resolveImage(client, ref);
      await client.DELETE('/v2/images/{image_id}', { path: { image_id: id } });
      deleted.push(id);
      if (!ctx.json) ctx.done(`deleted image ${id}`);
    }
    if (ctx.json) ctx.done('', { deleted });
  },
};
