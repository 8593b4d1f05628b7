import type { ImageMember } from '../../../sdk/client.ts';
import { many, one, str, type CommandSpec } from '../client/command.ts';
import type { Column } from '../client/output.ts';
import { resolveImage } from './resolve.ts';

const MEMBER_COLUMNS: Column<ImageMember>[] = [
  { header: 'MEMBER', value: (m) => m.member_id },
  { header: 'STATUS', value: (m) => m.status },
  { header: 'CREATED', value: (m) => m.created_at },
  { header: 'UPDATED', value: (m) => m.updated_at },
];
const image = { name: 'IMAGE', description: 'Image id or name' };

export const imageShare: CommandSpec = {
  name: 'image share',
  summary: 'Share an image with projects (they accept or reject it)',
  positionals: [image, { name: 'PROJECT', variadic: true, description: 'Project ids of the members' }],
  examples: ['ims image share cirros 4b1c...e9 7d20...11'],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveImage(client, one(args, 'IMAGE'));
    const added: ImageMember[] = [];
    for (const member of many(args, 'PROJECT')) {
      added.push(
        await client.POST('/v2/images/{image_id}/members', { path: { image_id: id }, body: { member } }),
      );
    }
    ctx.printList(added, MEMBER_COLUMNS);
  },
};

export const imageUnshare: CommandSpec = {
  name: 'image unshare',
  summary: 'Stop sharing an image with projects',
  positionals: [image, { name: 'PROJECT', variadic: true, description: 'Project ids of the members' }],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveImage(client, one(args, 'IMAGE'));
    const removed = many(args, 'PROJECT');
    for (const member of removed) {
      await client.DELETE('/v2/images/{image_id}/members/{member_id}', {
        path: { image_id: id, member_id: member },
      });
    }
    ctx.done(`image ${id} is no longer shared with ${removed.join(', ')}`, { id, removed });
  },
};

export const imageMembers: CommandSpec = {
  name: 'image members',
  summary: 'List the projects an image is shared with (owner), or your own membership',
  positionals: [image],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveImage(client, one(args, 'IMAGE'));
    const { members } = await client.GET('/v2/images/{image_id}/members', { path: { image_id: id } });
    ctx.printList(members, MEMBER_COLUMNS);
  },
};

function answer(status: 'accepted' | 'rejected' | 'pending'): CommandSpec {
  const verb = { accepted: 'accept', rejected: 'reject', pending: 'reset' }[status];
  return {
    name: `image ${verb}`,
    summary:
      status === 'pending'
        ? 'Set your membership of a shared image back to pending'
        : `${verb[0]!.toUpperCase()}${verb.slice(1)} an image shared with your project (again, to change your mind)`,
    positionals: [
      { name: 'IMAGE', description: 'Image id (shared images are not found by name until accepted)' },
    ],
    options: {
      project: { type: 'string', value: 'ID', description: "Member project (default: the profile's)" },
    },
    async run(ctx, args) {
      const session = await ctx.open();
      const id = one(args, 'IMAGE');
      const member = await session.client.PUT('/v2/images/{image_id}/members/{member_id}', {
        path: { image_id: id, member_id: str(args.options, 'project') ?? session.projectId() },
        body: { status },
      });
      ctx.done(`image ${id}: membership of ${member.member_id} is ${member.status}`, member);
    },
  };
}

export const imageAccept = answer('accepted');
export const imageReject = answer('rejected');
