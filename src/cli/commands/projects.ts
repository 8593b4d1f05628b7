import { one, str, type CommandSpec } from '../client/command.ts';
import { accountOf, resolveInAccount } from './resolve.ts';

type Project = { id: string; name: string; domain_id: string; description: string; enabled: boolean };
const COLUMNS = [
  { header: 'ID', value: (p: Project) => p.id },
  { header: 'NAME', value: (p: Project) => p.name },
  { header: 'ACCOUNT', value: (p: Project) => p.domain_id },
  { header: 'ENABLED', value: (p: Project) => p.enabled },
  { header: 'DESCRIPTION', value: (p: Project) => p.description },
];
const accountOption = {
  account: { type: 'string' as const, value: 'ACCOUNT', description: 'Account (domain) id or name' },
};
const project = { name: 'PROJECT', description: 'Project id or name' };

export const projectList: CommandSpec = {
  name: 'project list',
  summary: 'List projects (admin: all; others: see `ims profile show`)',
  options: { ...accountOption, name: { type: 'string', value: 'NAME', description: 'Only this name' } },
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const domainId = await accountOf(client, str(options, 'account'));
    const name = str(options, 'name');
    const query = { ...(domainId ? { domain_id: domainId } : {}), ...(name ? { name } : {}) };
    ctx.printList((await client.GET('/v3/projects', { query })).projects, COLUMNS);
  },
};

export const projectCreate: CommandSpec = {
  name: 'project create',
  summary: 'Create a project in an account (admin)',
  positionals: [{ name: 'NAME', description: 'Project name' }],
  options: { ...accountOption, description: { type: 'string', value: 'TEXT', description: 'Description' } },
  async run(ctx, args) {
    const { client } = await ctx.open();
    const domainId = await accountOf(client, str(args.options, 'account'));
    const { project: created } = await client.POST('/v3/projects', {
      body: {
        project: {
          name: one(args, 'NAME'),
          description: str(args.options, 'description') ?? '',
          ...(domainId ? { domain_id: domainId } : {}),
        },
      },
    });
    ctx.printRecord(created, ['id', 'name', 'domain_id']);
  },
};

export const projectShow: CommandSpec = {
  name: 'project show',
  summary: 'Show a project',
  positionals: [project],
  options: accountOption,
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveInAccount(client, 'projects', one(args, 'PROJECT'), str(args.options, 'account'));
    ctx.printRecord((await client.GET('/v3/projects/{project_id}', { path: { project_id: id } })).project, [
      'id',
      'name',
    ]);
  },
};

export const projectDelete: CommandSpec = {
  name: 'project delete',
  summary: 'Delete a project (admin)',
  positionals: [project],
  options: accountOption,
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveInAccount(client, 'projects', one(args, 'PROJECT'), str(args.options, 'account'));
    await client.DELETE('/v3/projects/{project_id}', { path: { project_id: id } });
    ctx.done(`deleted project ${id}`, { deleted: id });
  },
};
