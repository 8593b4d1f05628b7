import { str, type CommandSpec } from '../client/command.ts';
import type { Column } from '../client/output.ts';
import { UsageError } from '../client/exit-codes.ts';

interface QuotaResource {
  type: string;
  used: number;
  quota: number;
  min: number;
  max: number;
}

const limit = (n: number) => (n < 0 ? 'unlimited' : String(n));
const COLUMNS: Column<QuotaResource>[] = [
  { header: 'QUOTA', value: (r) => r.type },
  { header: 'USED', value: (r) => r.used },
  { header: 'LIMIT', value: (r) => limit(r.quota) },
  {
    header: 'UNIT',
    value: (r) => ({ image_size_total: 'MiB', image_member: 'members per image' })[r.type] ?? 'images',
  },
];

type QuotaAnswer = { quotas: { resources: QuotaResource[] } };

export const quotaShow: CommandSpec = {
  name: 'quota show',
  summary: "Show the project's image quotas and their use (images, total size in MiB)",
  options: {
    project: { type: 'string', value: 'ID', description: "Another project's (admin)" },
  },
  examples: ['ims quota show', 'ims quota show --project 4b1c... -o json'],
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const project = str(options, 'project');
    const answer = (await client.GET('/v1/cloudimages/quota', {
      query: project ? { project_id: project } : {},
    })) as unknown as QuotaAnswer;
    ctx.printList(answer.quotas.resources, COLUMNS);
  },
};

/** A limit option: a whole number, "unlimited" (-1) or "default" (null: back to the service's default). */
function limitOption(value: string | undefined, option: string): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'unlimited' || value === '-1') return -1;
  if (value === 'default') return null;
  if (!/^\d{1,13}$/.test(value))
    throw new UsageError(`${option} takes a whole number, "unlimited" or "default", not "${value}"`);
  return Number(value);
}

export const quotaSet: CommandSpec = {
  name: 'quota set',
  summary: "Set a project's image quotas (admin)",
  positionals: [{ name: 'PROJECT', description: 'Project id' }],
  options: {
    images: { type: 'string', value: 'N', description: 'Most images: a number, unlimited or default' },
    size: {
      type: 'string',
      value: 'MIB',
      description: 'Most total image size in MiB: a number, unlimited or default',
    },
  },
  examples: ['ims quota set 4b1c... --images 100 --size 512000', 'ims quota set 4b1c... --size default'],
  async run(ctx, { options, args }) {
    const images = limitOption(str(options, 'images'), '--images');
    const size = limitOption(str(options, 'size'), '--size');
    if (images === undefined && size === undefined) throw new UsageError('give --images and/or --size');
    const { client } = await ctx.open();
    const answer = (await client.PUT('/v1/cloudimages/quota', {
      body: {
        project_id: args.PROJECT as string,
        quotas: {
          ...(images !== undefined ? { image: images } : {}),
          ...(size !== undefined ? { image_size_total: size } : {}),
        },
      },
    })) as unknown as QuotaAnswer;
    ctx.printList(answer.quotas.resources, COLUMNS);
  },
};
