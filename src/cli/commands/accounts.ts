import { one, str, type CommandSpec } from '../client/command.ts';
import { resolveIdentity } from './resolve.ts';

/** Accounts are Keystone domains: a tenant's users and projects live in one. */
type Domain = { id: string; name: string; description: string; enabled: boolean };
const COLUMNS = [
  { header: 'ID', value: (d: Domain) => d.id },
  { header: 'NAME', value: (d: Domain) => d.name },
  { header: 'ENABLED', value: (d: Domain) => d.enabled },
  { header: 'DESCRIPTION', value: (d: Domain) => d.description },
];
const account = { name: 'ACCOUNT', description: 'Account (domain) id or name' };

export const accountList: CommandSpec = {
  name: 'account list',
  summary: 'List accounts (Keystone domains; admin)',
  options: { name: { type: 'string', value: 'NAME', description: 'Only this name' } },
  async run(ctx, { options }) {
    const { client } = await ctx.open();
    const name = str(options, 'name');
    ctx.printList((await client.GET('/v3/domains', { query: name ? { name } : {} })).domains, COLUMNS);
  },
};

export const accountCreate: CommandSpec = {
  name: 'account create',
  summary: 'Create an account (domain; admin)',
  positionals: [{ name: 'NAME', description: 'Account name' }],
  options: { description: { type: 'string', value: 'TEXT', description: 'Description' } },
  async run(ctx, args) {
    const { client } = await ctx.open();
    const { domain } = await client.POST('/v3/domains', {
      body: { domain: { name: one(args, 'NAME'), description: str(args.options, 'description') ?? '' } },
    });
    ctx.printRecord(domain, ['id', 'name']);
  },
};

export const accountShow: CommandSpec = {
  name: 'account show',
  summary: 'Show an account (domain)',
  positionals: [account],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveIdentity(client, 'domains', one(args, 'ACCOUNT'));
    ctx.printRecord((await client.GET('/v3/domains/{domain_id}', { path: { domain_id: id } })).domain, [
      'id',
      'name',
    ]);
  },
};

export const accountDelete: CommandSpec = {
  name: 'account delete',
  summary: 'Disable and delete an account (domain; admin)',
  positionals: [account],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = await resolveIdentity(client, 'domains', one(args, 'ACCOUNT'));
    const path = { domain_id: id };
    // Keystone deletes only disabled domains.
    await client.PATCH('/v3/domains/{domain_id}', { path, body: { domain: { enabled: false } } });
    await client.DELETE('/v3/domains/{domain_id}', { path });
    ctx.done(`deleted account ${id}`, { deleted: id });
  },
};
