import type { ImageMember } from '../../../sdk/client.ts';
import { list, one, str, type CommandSpec, type OptionValues } from '../client/command.ts';
import type { CommandContext } from '../client/context.ts';
import { EXIT, ExitError, UsageError } from '../client/exit-codes.ts';
import type { Session } from '../client/session.ts';
import { WAIT_OPTIONS, waitForJob, waitSettings } from './job-wait.ts';
import type { Column } from '../client/output.ts';
import { resolveImage } from './resolve.ts';

const MEMBER_COLUMNS: Column<ImageMember>[] = [
  { header: 'MEMBER', value: (m) => m.member_id },
  { header: 'STATUS', value: (m) => m.status },
  { header: 'CREATED', value: (m) => m.created_at },
  { header: 'UPDATED', value: (m) => m.updated_at },
];
const image = { name: 'IMAGE', description: 'Image id or name' };

const batchOptions = {
  account: {
    type: 'string' as const,
    multiple: true,
    value: 'ID',
    description: 'An account (domain) id: every project of it sees the image (repeatable)',
  },
  organization: {
    type: 'string' as const,
    multiple: true,
    value: 'URN',
    description: 'An organization or unit URN: every account in it sees the image (repeatable)',
  },
  wait: {
    type: 'boolean' as const,
    short: 'w',
    description: 'Wait for the batch job (accounts, organizations)',
  },
  ...WAIT_OPTIONS,
};

/**
 * Accounts and organizations go through IMS's batch sharing route (one job); its result lists
 * each image's outcome. With --wait a failed image makes the job FAIL, which exits 5.
 */
async function batch(
  ctx: CommandContext,
  session: Session,
  method: 'POST' | 'DELETE',
  imageId: string,
  options: OptionValues,
): Promise<string | null> {
  const domains = list(options, 'account');
  const organizations = list(options, 'organization');
  if (!domains.length && !organizations.length) return null;
  const body = {
    images: [imageId],
    ...(domains.length ? { domains } : {}),
    ...(organizations.length ? { organizations } : {}),
  };
  const { job_id: jobId } =
    method === 'POST'
      ? await session.client.POST('/v1/cloudimages/members', { body })
      : await session.client.DELETE('/v1/cloudimages/members', { body });
  if (!jobId) throw new ExitError('IMS answered without a job id', EXIT.api);
  if (options.wait) await waitForJob(ctx, session, jobId, waitSettings(options), `sharing ${jobId}`);
  return jobId;
}

export const imageShare: CommandSpec = {
  name: 'image share',
  summary: 'Share an image with projects, accounts or organizations (they accept or reject it)',
  description:
    'Projects become Glance members of the image (it must be `shared`). Accounts and organizations\n' +
    "go through IMS's batch sharing as one job (the image must be an active private or shared one);\n" +
    'the job id is printed, or followed with --wait. JSON: the member list for projects alone,\n' +
    '{"members", "job_id"} when accounts or organizations are named.',
  positionals: [
    image,
    { name: 'PROJECT', variadic: true, optional: true, description: 'Project ids of the members' },
  ],
  options: batchOptions,
  examples: [
    'ims image share cirros 4b1c...e9 7d20...11',
    'ims image share cirros --account 0c4f...d2 --organization organizations::0c4f...d2:ou:o-ab12/ou-cd34 --wait',
  ],
  async run(ctx, args) {
    const session = await ctx.open();
    const { client } = session;
    const id = await resolveImage(client, one(args, 'IMAGE'));
    const projects = (args.args.PROJECT as string[] | undefined) ?? [];
    if (
      !projects.length &&
      !list(args.options, 'account').length &&
      !list(args.options, 'organization').length
    )
      throw new UsageError('name at least one PROJECT, --account or --organization');
    const added: ImageMember[] = [];
    for (const member of projects) {
      added.push(
        await client.POST('/v2/images/{image_id}/members', { path: { image_id: id }, body: { member } }),
      );
    }
    const jobId = await batch(ctx, session, 'POST', id, args.options);
    // Projects alone print the member list, as they always did; a batch adds its job.
    if (jobId === null) ctx.printList(added, MEMBER_COLUMNS);
    else if (ctx.json) ctx.printRecord({ members: added, job_id: jobId });
    else {
      if (added.length) ctx.printList(added, MEMBER_COLUMNS);
      ctx.note(`accounts and organizations: job ${jobId}${args.options.wait ? ' done' : ''}`);
    }
  },
};

export const imageUnshare: CommandSpec = {
  name: 'image unshare',
  summary: 'Stop sharing an image with projects, accounts or organizations',
  positionals: [
    image,
    { name: 'PROJECT', variadic: true, optional: true, description: 'Project ids of the members' },
  ],
  options: batchOptions,
  async run(ctx, args) {
    const session = await ctx.open();
    const id = await resolveImage(session.client, one(args, 'IMAGE'));
    const removed = (args.args.PROJECT as string[] | undefined) ?? [];
    if (
      !removed.length &&
      !list(args.options, 'account').length &&
      !list(args.options, 'organization').length
    )
      throw new UsageError('name at least one PROJECT, --account or --organization');
    for (const member of removed) {
      await session.client.DELETE('/v2/images/{image_id}/members/{member_id}', {
        path: { image_id: id, member_id: member },
      });
    }
    const jobId = await batch(ctx, session, 'DELETE', id, args.options);
    ctx.done(
      `image ${id}: ${removed.length ? `no longer shared with ${removed.join(', ')}` : 'unsharing'}` +
        (jobId ? `; accounts and organizations: job ${jobId}` : ''),
      jobId === null ? { id, removed } : { id, removed, job_id: jobId },
    );
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
