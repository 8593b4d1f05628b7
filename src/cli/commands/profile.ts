import { one, str, type CommandSpec, type ParsedArgs } from '../client/command.ts';
import {
  configPath,
  readConfig,
  writeConfig,
  type AuthKind,
  type ConfigFile,
  type Profile,
} from '../client/config-file.ts';
import type { CommandContext } from '../client/context.ts';
import { ConfigError, UsageError } from '../client/exit-codes.ts';
import { readStdinSecret } from '../client/secret-input.ts';

/** A profile for display: secrets masked. */
function shown(name: string, p: Profile, current: string | undefined): Record<string, unknown> {
  const mask = (s: string | undefined) => (s ? `${s.slice(0, 4)}…(${s.length} chars)` : undefined);
  return {
    name,
    current: name === current,
    ...p,
    ...(p.token ? { token: mask(p.token) } : {}),
    ...(p.secret_key ? { secret_key: mask(p.secret_key) } : {}),
  };
}

const profileArg = { name: 'NAME', description: 'Profile name' };

export const profileList: CommandSpec = {
  name: 'profile list',
  summary: 'List the profiles of the config file',
  async run(ctx) {
    const config = await readConfig(configPath(ctx.io.env));
    ctx.printList(
      Object.entries(config.profiles).map(([n, p]) => shown(n, p, config.current)),
      [
        { header: 'CURRENT', value: (r) => (r.current ? '*' : '') },
        { header: 'NAME', value: (r) => r.name },
        { header: 'ENDPOINT', value: (r) => r.endpoint },
        { header: 'AUTH', value: (r) => r.auth },
        { header: 'USER', value: (r) => r.user ?? r.access_key ?? '' },
        { header: 'PROJECT', value: (r) => r.project ?? r.project_id ?? '' },
      ],
    );
  },
};

export const profileShow: CommandSpec = {
  name: 'profile show',
  summary: 'Show a profile (secrets masked)',
  positionals: [{ ...profileArg, optional: true, description: 'Profile name (default: the current one)' }],
  async run(ctx, args) {
    const file = configPath(ctx.io.env);
    const config = await readConfig(file);
    const name = (args.args.NAME as string | undefined) ?? ctx.globals.profile ?? config.current ?? 'default';
    const p = config.profiles[name];
    if (!p) throw new ConfigError(`no profile "${name}" in ${file}`);
    ctx.printRecord({ ...shown(name, p, config.current), config_file: file }, [
      'name',
      'current',
      'endpoint',
      'auth',
    ]);
  },
};

export const profileUse: CommandSpec = {
  name: 'profile use',
  summary: 'Make a profile the current one',
  positionals: [profileArg],
  async run(ctx, args) {
    const name = await editExisting(ctx, args, (config, name) => {
      config.current = name;
    });
    ctx.done(`current profile: ${name}`, { current: name });
  },
};

export const profileDelete: CommandSpec = {
  name: 'profile delete',
  summary: 'Remove a profile (and the secrets it holds) from the config file',
  positionals: [profileArg],
  async run(ctx, args) {
    const name = await editExisting(ctx, args, (config, name) => {
      delete config.profiles[name];
      if (config.current === name) delete config.current;
    });
    ctx.done(`deleted profile ${name}`, { deleted: name });
  },
};

/** Applies `edit` to the config file for the profile the command names, which must exist; its name. */
async function editExisting(
  ctx: CommandContext,
  args: ParsedArgs,
  edit: (config: ConfigFile, name: string) => void,
): Promise<string> {
  const file = configPath(ctx.io.env);
  const config = await readConfig(file);
  const name = one(args, 'NAME');
  if (!config.profiles[name]) throw new ConfigError(`no profile "${name}" in ${file}`);
  edit(config, name);
  await writeConfig(file, config);
  return name;
}

export const profileSet: CommandSpec = {
  name: 'profile set',
  summary: 'Create or change a profile for a token or AK/SK (use `ims login` for passwords)',
  positionals: [profileArg],
  options: {
    token: { type: 'string', value: 'TOKEN', description: 'Use this X-Auth-Token' },
    'access-key': { type: 'string', value: 'AK', description: 'Sign requests with this access key...' },
    'secret-key-stdin': { type: 'boolean', description: '...and the secret key read from stdin' },
    'project-id': { type: 'string', value: 'ID', description: 'Project the profile acts on' },
    current: { type: 'boolean', description: 'Also make it the current profile' },
  },
  examples: [
    'ims profile set ci --endpoint http://ims:9292 --access-key "$AK" --project-id "$PID" --secret-key-stdin <<< "$SK"',
  ],
  async run(ctx, args) {
    const { options } = args;
    const file = configPath(ctx.io.env);
    const config = await readConfig(file);
    const name = one(args, 'NAME');
    const p: Profile = { ...(config.profiles[name] ?? { endpoint: '', auth: 'token' as AuthKind }) };
    const url = ctx.globals.endpoint;
    if (url !== undefined) {
      if (!/^https?:\/\/[^/]+/.test(url))
        throw new UsageError(`--endpoint must be an http(s) URL, not "${url}"`);
      p.endpoint = url;
    }
    const token = str(options, 'token');
    const ak = str(options, 'access-key');
    if (token && ak) throw new UsageError('give --token or --access-key, not both');
    if (token) Object.assign(p, { auth: 'token', token, token_expires_at: undefined });
    if (ak) {
      if (!options['secret-key-stdin']) throw new UsageError('--access-key needs --secret-key-stdin');
      Object.assign(p, { auth: 'aksk', access_key: ak, secret_key: await readStdinSecret(ctx.io) });
    }
    const projectId = str(options, 'project-id');
    if (projectId) p.project_id = projectId;
    if (!p.endpoint) throw new UsageError('--endpoint is needed for a new profile');
    config.profiles[name] = p;
    if (options.current || !config.current) config.current = name;
    await writeConfig(file, config);
    ctx.done(`profile ${name} saved in ${file}`, shown(name, p, config.current));
  },
};
