import { many, one, type CommandSpec } from '../client/command.ts';
import { resolveImage } from './resolve.ts';

const positionals = [
  { name: 'IMAGE', description: 'Image id or name' },
  { name: 'TAG', variadic: true, description: 'Tags' },
];

function tagCommand(verb: 'add' | 'remove'): CommandSpec {
  return {
    name: `image tag ${verb}`,
    summary: verb === 'add' ? 'Add tags to an image' : 'Remove tags from an image',
    positionals,
    async run(ctx, args) {
      const { client } = await ctx.open();
      const id = await resolveImage(client, one(args, 'IMAGE'));
      const path = (tag: string) => ({ path: { image_id: id, tag } });
      for (const tag of many(args, 'TAG')) {
        if (verb === 'add') await client.PUT('/v2/images/{image_id}/tags/{tag}', path(tag));
        else await client.DELETE('/v2/images/{image_id}/tags/{tag}', path(tag));
      }
      const image = await client.GET('/v2/images/{image_id}', { path: { image_id: id } });
      ctx.done(`tags of ${id}: ${image.tags.join(', ') || '(none)'}`, { id, tags: image.tags });
    },
  };
}

export const imageTagAdd = tagCommand('add');
export const imageTagRemove = tagCommand('remove');
