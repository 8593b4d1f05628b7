import { one, str, type CommandSpec } from '../client/command.ts';
import { UsageError } from '../client/exit-codes.ts';
import { resolveIdentity } from './resolve.ts';

type Role = { id: string; name: string };

export const roleList: CommandSpec = {
  name: 'role list',
  summary: 'List the roles (admin, member, reader, ...)',
  async run(ctx) {
    const { client } = await ctx.open();
    ctx.printList((await client.GET('/v3/roles')).roles, [
      { header: 'ID', value: (r: Role) => r.id },
      { header: 'NAME', value: (r: Role) => r.name },
    ]);
  },
};

const target = {
  user: { type: 'string' as const, value: 'USER', description: 'User id or name' },
  project: { type: 'string' as const, value: 'PROJECT', description: 'Project id or name' },
  account: {
    type: 'string' as const,
    value: 'ACCOUNT',
    description: 'Account (domain) id or name, instead of --project',
  },
};

function grantCommand(verb: 'grant' | 'revoke'): CommandSpec {
  return {
    name: `role ${verb}`,
    summary:
      verb === 'grant' ? 'Give a user a role on a project or account (admin)' : 'Take a role away (admin)',
    positionals: [{ name: 'ROLE', description: 'Role id or name' }],
    options: target,
    examples: [`ims role ${verb} member --user alice --project web`],
    async run(ctx, args) {
      const { options } = args;
      const userRef = str(options, 'user');
      const projectRef = str(options, 'project');
      const accountRef = str(options, 'account');
      if (!userRef) throw new UsageError('--user is required');
      if ((projectRef === undefined) === (accountRef === undefined))
        throw new UsageError('give exactly one of --project and --account');
      const { client } = await ctx.open();
      const roleId = await resolveIdentity(client, 'roles', one(args, 'ROLE'));
      const userId = await resolveIdentity(client, 'users', userRef);
      const method = verb === 'grant' ? 'put' : 'delete';
      let scope: string;
      if (projectRef !== undefined) {
        const projectId = await resolveIdentity(client, 'projects', projectRef);
        await client.call(method, '/v3/projects/{project_id}/users/{user_id}/roles/{role_id}', {
          path: { project_id: projectId, user_id: userId, role_id: roleId },
        });
        scope = `project ${projectId}`;
      } else {
        const domainId = await resolveIdentity(client, 'domains', accountRef!);
        await client.call(method, '/v3/domains/{domain_id}/users/{user_id}/roles/{role_id}', {
          path: { domain_id: domainId, user_id: userId, role_id: roleId },
        });
        scope = `account ${domainId}`;
      }
      ctx.done(`${verb === 'grant' ? 'granted' : 'revoked'} role ${roleId} for user ${userId} on ${scope}`, {
        role_id: roleId,
        user_id: userId,
        scope,
      });
    },
  };
}

export const roleGrant = grantCommand('grant');
export const roleRevoke = grantCommand('revoke');

type Assignment = {
  role: { id: string; name: string };
  user: { id: string; name: string };
  scope: { project?: { id: string; name?: string }; domain?: { id: string; name?: string } };
};

export const roleAssignments: CommandSpec = {
  name: 'role assignments',
  summary: 'List who has which role where (admin)',
  options: { user: target.user, project: target.project },
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const query: Record<string, string> = { include_names: 'true' };
    const userRef = str(options, 'user');
    const projectRef = str(options, 'project');
    if (userRef) query['user.id'] = await resolveIdentity(client, 'users', userRef);
    if (projectRef) query['scope.project.id'] = await resolveIdentity(client, 'projects', projectRef);
    const { role_assignments } = await client.GET('/v3/role_assignments', { query });
    ctx.printList(role_assignments as Assignment[], [
      { header: 'ROLE', value: (a) => a.role.name ?? a.role.id },
      { header: 'USER', value: (a) => a.user.name ?? a.user.id },
      { header: 'SCOPE', value: (a) => (a.scope.project ? 'project' : 'account') },
      { header: 'SCOPE ID', value: (a) => a.scope.project?.id ?? a.scope.domain?.id },
      { header: 'SCOPE NAME', value: (a) => a.scope.project?.name ?? a.scope.domain?.name },
    ]);
  },
};
