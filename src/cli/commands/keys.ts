import type { AccessKey } from '../../../sdk/client.ts';
import { one, str, type CommandSpec } from '../client/command.ts';
import { resolveIdentity } from './resolve.ts';

const COLUMNS = [
  { header: 'ACCESS KEY', value: (k: AccessKey) => k.access },
  { header: 'USER', value: (k: AccessKey) => k.user_id },
  { header: 'STATUS', value: (k: AccessKey) => k.status },
  { header: 'CREATED', value: (k: AccessKey) => k.create_time },
  { header: 'LAST USED', value: (k: AccessKey) => k.last_use_time },
  { header: 'DESCRIPTION', value: (k: AccessKey) => k.description },
];
const userOption = {
  user: {
    type: 'string' as const,
    value: 'USER',
    description: 'User id or name (default: yourself; others: admin)',
  },
};

async function userId(ctx: Parameters<CommandSpec['run']>[0], ref: string | undefined) {
  const session = await ctx.open();
  return ref === undefined ? undefined : resolveIdentity(session.client, 'users', ref);
}

export const keyCreate: CommandSpec = {
  name: 'key create',
  summary: 'Create an access key (AK/SK); the secret is shown only this once',
  options: {
    ...userOption,
    description: { type: 'string', value: 'TEXT', description: 'What the key is for' },
  },
  examples: ['ims key create --description "CI uploads" -o json > key.json'],
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const user = await userId(ctx, str(options, 'user'));
    const { credential } = await client.POST('/v3.0/OS-CREDENTIAL/credentials', {
      body: {
        credential: { ...(user ? { user_id: user } : {}), description: str(options, 'description') ?? '' },
      },
    });
    ctx.printRecord(credential, ['access', 'secret', 'user_id', 'status']);
    if (!ctx.json) ctx.note('Keep the secret now: it cannot be shown again.');
  },
};

export const keyList: CommandSpec = {
  name: 'key list',
  summary: 'List access keys',
  options: userOption,
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const user = await userId(ctx, str(options, 'user'));
    ctx.printList(
      (await client.GET('/v3.0/OS-CREDENTIAL/credentials', { query: user ? { user_id: user } : {} }))
        .credentials,
      COLUMNS,
    );
  },
};

export const keyDelete: CommandSpec = {
  name: 'key delete',
  summary: 'Delete an access key',
  positionals: [{ name: 'ACCESS_KEY', description: 'The access key id' }],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const ak = one(args, 'ACCESS_KEY');
    await client.DELETE('/v3.0/OS-CREDENTIAL/credentials/{access_key}', { path: { access_key: ak } });
    ctx.done(`deleted access key ${ak}`, { deleted: ak });
  },
};
