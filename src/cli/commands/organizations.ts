import { one, str, type CommandSpec } from '../client/command.ts';
import { resolveIdentity } from './resolve.ts';

type Org = { id: string; urn: string; name: string; management_account_id: string; root_id: string };
type Unit = { id: string; urn: string; name: string; parent_id: string | null };
type Membership = { account_id: string; parent_id: string; parent_urn: string; joined_at: string };

const ORG_COLUMNS = [
  { header: 'ID', value: (o: Org) => o.id },
  { header: 'NAME', value: (o: Org) => o.name },
  { header: 'MANAGEMENT ACCOUNT', value: (o: Org) => o.management_account_id },
  { header: 'URN', value: (o: Org) => o.urn },
];
const UNIT_COLUMNS = [
  { header: 'ID', value: (u: Unit) => u.id },
  { header: 'NAME', value: (u: Unit) => u.name },
  { header: 'PARENT', value: (u: Unit) => u.parent_id },
  { header: 'URN', value: (u: Unit) => u.urn },
];
const ACCOUNT_COLUMNS = [
  { header: 'ACCOUNT', value: (m: Membership) => m.account_id },
  { header: 'UNIT', value: (m: Membership) => m.parent_id },
  { header: 'JOINED', value: (m: Membership) => m.joined_at },
];
const org = { name: 'ORG', description: 'Organization id (o-...)' };
const account = { name: 'ACCOUNT', description: 'Account (domain) id or name' };

export const orgList: CommandSpec = {
  name: 'org list',
  summary: 'List organizations (admin)',
  async run(ctx) {
    const { client } = await ctx.open();
    ctx.printList((await client.GET('/v1/organizations')).organizations, ORG_COLUMNS);
  },
};

export const orgCreate: CommandSpec = {
  name: 'org create',
  summary: 'Create an organization; its URN is what images are shared with (admin)',
  positionals: [{ name: 'NAME', description: 'Organization name' }],
  options: {
    'management-account': {
      type: 'string',
      value: 'ACCOUNT',
      description: 'Account (id or name) that manages it (default: yours)',
    },
  },
  examples: ['ims org create acme-group --management-account acme'],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const manager = str(args.options, 'management-account');
    const managementAccountId = manager ? await resolveIdentity(client, 'domains', manager) : undefined;
    const { organization } = await client.POST('/v1/organizations', {
      body: {
        organization: {
          name: one(args, 'NAME'),
          ...(managementAccountId ? { management_account_id: managementAccountId } : {}),
        },
      },
    });
    ctx.printRecord(organization, ['id', 'name', 'urn', 'root_id']);
  },
};

export const orgShow: CommandSpec = {
  name: 'org show',
  summary: 'Show an organization (admin)',
  positionals: [org],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const { organization } = await client.GET('/v1/organizations/{org_id}', {
      path: { org_id: one(args, 'ORG') },
    });
    ctx.printRecord(organization, ['id', 'name', 'urn', 'root_id']);
  },
};

export const orgDelete: CommandSpec = {
  name: 'org delete',
  summary: 'Delete an organization (admin)',
  positionals: [org],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const id = one(args, 'ORG');
    await client.DELETE('/v1/organizations/{org_id}', { path: { org_id: id } });
    ctx.done(`deleted organization ${id}`, { deleted: id });
  },
};

export const orgUnitList: CommandSpec = {
  name: 'org unit list',
  summary: 'List the organizational units of an organization (admin)',
  positionals: [org],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const { organizational_units } = await client.GET('/v1/organizations/{org_id}/organizational-units', {
      path: { org_id: one(args, 'ORG') },
    });
    ctx.printList(organizational_units, UNIT_COLUMNS);
  },
};

export const orgUnitCreate: CommandSpec = {
  name: 'org unit create',
  summary: 'Create an organizational unit (admin)',
  positionals: [org, { name: 'NAME', description: 'Unit name' }],
  options: {
    parent: { type: 'string', value: 'UNIT', description: 'Parent unit id (default: the root)' },
  },
  async run(ctx, args) {
    const { client } = await ctx.open();
    const parent = str(args.options, 'parent');
    const { organizational_unit } = await client.POST('/v1/organizations/{org_id}/organizational-units', {
      path: { org_id: one(args, 'ORG') },
      body: { organizational_unit: { name: one(args, 'NAME'), ...(parent ? { parent_id: parent } : {}) } },
    });
    ctx.printRecord(organizational_unit, ['id', 'name', 'urn', 'parent_id']);
  },
};

export const orgUnitDelete: CommandSpec = {
  name: 'org unit delete',
  summary: 'Delete an empty organizational unit (admin)',
  positionals: [org, { name: 'UNIT', description: 'Unit id (ou-...)' }],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const unit = one(args, 'UNIT');
    await client.DELETE('/v1/organizations/{org_id}/organizational-units/{ou_id}', {
      path: { org_id: one(args, 'ORG'), ou_id: unit },
    });
    ctx.done(`deleted organizational unit ${unit}`, { deleted: unit });
  },
};

export const orgAccountList: CommandSpec = {
  name: 'org account list',
  summary: 'List the accounts in an organization (admin)',
  positionals: [org],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const { accounts } = await client.GET('/v1/organizations/{org_id}/accounts', {
      path: { org_id: one(args, 'ORG') },
    });
    ctx.printList(accounts, ACCOUNT_COLUMNS);
  },
};

export const orgAccountAdd: CommandSpec = {
  name: 'org account add',
  summary: 'Add an account to an organization, or move it to another unit (admin)',
  positionals: [org, account],
  options: { unit: { type: 'string', value: 'UNIT', description: 'Unit id (default: the root)' } },
  async run(ctx, args) {
    const { client } = await ctx.open();
    const accountId = await resolveIdentity(client, 'domains', one(args, 'ACCOUNT'));
    const unit = str(args.options, 'unit');
    const placed = await client.PUT('/v1/organizations/{org_id}/accounts/{account_id}', {
      path: { org_id: one(args, 'ORG'), account_id: accountId },
      body: { account: unit ? { parent_id: unit } : {} },
    });
    ctx.printRecord(placed.account, ['account_id', 'parent_id', 'parent_urn']);
  },
};

export const orgAccountRemove: CommandSpec = {
  name: 'org account remove',
  summary: 'Remove an account from an organization (admin)',
  positionals: [org, account],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const accountId = await resolveIdentity(client, 'domains', one(args, 'ACCOUNT'));
    await client.DELETE('/v1/organizations/{org_id}/accounts/{account_id}', {
      path: { org_id: one(args, 'ORG'), account_id: accountId },
    });
    ctx.done(`removed account ${accountId}`, { removed: accountId });
  },
};

export const orgMembers: CommandSpec = {
  name: 'org members',
  summary: 'The accounts an organization or unit URN reaches (sub-units included; admin)',
  positionals: [{ name: 'URN', description: 'Organization or unit URN, or its o-/r-/ou- id' }],
  async run(ctx, args) {
    const { client } = await ctx.open();
    const reached = await client.GET('/v1/organizations/members', { query: { urn: one(args, 'URN') } });
    if (ctx.json) ctx.printRecord(reached);
    else ctx.printList(reached.account_ids, [{ header: 'ACCOUNT', value: (id: string) => id }]);
  },
};
