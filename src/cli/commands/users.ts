import { one, str, type CommandSpec } from '../client/command.ts';
import { UsageError } from '../client/exit-codes.ts';
import { readStdinSecret } from '../client/secret-input.ts';
import { accountOf, resolveIdentity, resolveInAccount } from './resolve.ts';

type User = { id: string; name: string; domain_id: string; enabled: boolean; default_project_id?: string };
const COLUMNS = [
  { header: 'ID', value: (u: User) => u.id },
  { header: 'NAME', value: (u: User) => u.name },
  { header: 'ACCOUNT', value: (u: User) => u.domain_id },
  { header: 'ENABLED', value: (u: User) => u.enabled },
  { header: 'DEFAULT PROJECT', value: (u: User) => u.default_project_id },
];
const accountOption = {
  account: { type: 'string' as const, value: 'ACCOUNT', description: 'Account (domain) id or name' },
};
const user = { name: 'USER', description: 'User id or name' };

export const userList: CommandSpec = {
  name: 'user list',
  summary: 'List users (admin)',
  options: { ...accountOption, name: { type: 'string', value: 'NAME', description: 'Only this name' } },
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const domainId = await accountOf(client, str(options, 'account'));
    const name = str(options, 'name');
    const query = { ...(domainId ? { domain_id: domainId } : {}), ...(name ? { name } : {}) };
    ctx.printList((await client.GET('/v3/users', { query })).users, COLUMNS);
  },
};

export const userCreate: CommandSpec = {
  name: 'user create',
  summary: 'Create a user (admin); with --project and --role, also grant the role there',
  positionals: [{ name: 'NAME', description: 'User name' }],
  options: {
    ...accountOption,
    'password-stdin': { type: 'boolean', description: 'Read the password from stdin' },
    password: {
      type: 'string',
      value: 'PASSWORD',
      description: 'The password (visible to other local users; prefer stdin)',
    },
    project: { type: 'string', value: 'PROJECT', description: 'Default project (id or name)' },
    role: {
      type: 'string',
      value: 'ROLE',
      description: 'With --project: grant this role (e.g. member, reader, admin)',
    },
  },
  examples: ['ims user create alice --project web --role member --password-stdin <<< "$PW"'],
  async run(ctx, args) {
    const { options } = args;
    if (options.password !== undefined && options['password-stdin'])
      throw new UsageError('give --password or --password-stdin, not both');
    if (options.role !== undefined && options.project === undefined)
      throw new UsageError('--role needs --project');
    const password = options['password-stdin'] ? await readStdinSecret(ctx.io) : str(options, 'password');
    const { client } = await ctx.open();
    const domainId = await accountOf(client, str(options, 'account'));
    const projectRef = str(options, 'project');
    const projectId = projectRef
      ? await resolveIdentity(client, 'projects', projectRef, domainId)
      : undefined;
    const { user: created } = await client.POST('/v3/users', {
      body: {
        user: {
          name: one(args, 'NAME'),
          ...(domainId ? { domain_id: domainId } : {}),
          ...(password !== undefined ? { password } : {}),
          ...(projectId ? { default_project_id: projectId } : {}),
        },
      },
    });
    const role = str(options, 'role');
    if (role && projectId) {
      const roleId = await resolveIdentity(client, 'roles', role);
      await client.PUT('/v3/projects/{project_id}/users/{user_id}/roles/{role_id}', {
        path: { project_id: projectId, user_id: created.id, role_id: roleId },
      });
    }
    ctx.printRecord(created, ['id', 'name', 'domain_id', 'default_project_id']);
  },
};

export const userShow: CommandSpec = {
  name: 'user show',
  summary: 'Show a user',
  positionals: [user],
  options: accountOption,
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveInAccount(client, 'users', one(args, 'USER'), str(args.options, 'account'));
    ctx.printRecord((await client.GET('/v3/users/{user_id}', { path: { user_id: id } })).user, [
      'id',
      'name',
    ]);
  },
};

export const userDelete: CommandSpec = {
  name: 'user delete',
  summary: 'Delete a user (admin)',
  positionals: [user],
  options: accountOption,
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveInAccount(client, 'users', one(args, 'USER'), str(args.options, 'account'));
    await client.DELETE('/v3/users/{user_id}', { path: { user_id: id } });
    ctx.done(`deleted user ${id}`, { deleted: id });
  },
};
