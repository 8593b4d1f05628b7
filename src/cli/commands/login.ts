import { ImsClient } from '../../../sdk/client.ts';
import { str, type CommandSpec } from '../client/command.ts';
import { configPath, profileName, readConfig, writeConfig, type Profile } from '../client/config-file.ts';
import { UsageError } from '../client/exit-codes.ts';
import { promptSecret, readStdinSecret } from '../client/secret-input.ts';
import { tokenFields, USER_AGENT } from '../client/session.ts';

export const login: CommandSpec = {
  name: 'login',
  summary: 'Sign in with a password and keep the token in a profile',
  description:
    'Asks Keystone (POST /v3/auth/tokens) for a project-scoped token and stores the token,\n' +
    'never the password, in the profile. The password comes from IMS_PASSWORD, stdin\n' +
    '(--password-stdin) or a prompt. With IMS_PASSWORD set, later commands renew the token\n' +
    'by themselves when it expires. The first profile saved becomes the current one.',
  options: {
    user: { type: 'string', short: 'u', value: 'NAME', description: "User name (default: the profile's)" },
    'user-domain': {
      type: 'string',
      value: 'NAME',
      description: 'Domain (account) of the user (default: Default)',
    },
    project: {
      type: 'string',
      value: 'NAME',
      description: "Project to scope the token to (default: the profile's)",
    },
    'project-domain': {
      type: 'string',
      value: 'NAME',
      description: "Domain of the project (default: the user's)",
    },
    'password-stdin': { type: 'boolean', description: 'Read the password from stdin' },
  },
  examples: [
    'ims login --endpoint http://127.0.0.1:9292 --user admin --project admin',
    'echo "$PW" | ims login --profile dev --endpoint https://ims.example.org --user alice --project web --password-stdin',
  ],
  async run(ctx, { options }) {
    const file = configPath(ctx.io.env);
    const config = await readConfig(file);
    const name = profileName(config, ctx.globals.profile, ctx.io.env);
    const old = config.profiles[name];
    const endpoint = ctx.globals.endpoint ?? ctx.io.env.IMS_ENDPOINT ?? old?.endpoint;
    if (!endpoint) throw new UsageError('--endpoint is needed for a new profile');
    const user = str(options, 'user') ?? old?.user;
    const project = str(options, 'project') ?? old?.project;
    if (!user) throw new UsageError('--user is needed for a new profile');
    const userDomain = str(options, 'user-domain') ?? old?.user_domain;
    const projectDomain = str(options, 'project-domain') ?? old?.project_domain ?? userDomain;

    const password = options['password-stdin']
      ? await readStdinSecret(ctx.io)
      : (ctx.io.env.IMS_PASSWORD ??
        (await promptSecret(ctx.io, `Password for ${user}: `, '--password-stdin')));
    const client = new ImsClient({ baseUrl: endpoint, headers: { 'user-agent': USER_AGENT } });
    const issued = await client.passwordToken({
      user,
      password,
      ...(userDomain ? { userDomain } : {}),
      ...(project ? { project } : {}),
      ...(projectDomain ? { projectDomain } : {}),
    });
    const profile: Profile = {
      endpoint,
      auth: 'password',
      user,
      ...(userDomain ? { user_domain: userDomain } : {}),
      ...(project ? { project } : {}),
      ...(projectDomain ? { project_domain: projectDomain } : {}),
      ...tokenFields(issued),
    };
    config.profiles[name] = profile;
    config.current ??= name;
    await writeConfig(file, config);
    ctx.done(
      `signed in as ${user}${issued.body.project ? ` on project ${issued.body.project.name} (${issued.body.project.id})` : ''}; profile "${name}" saved in ${file}`,
      {
        profile: name,
        user,
        user_id: profile.user_id,
        project_id: profile.project_id,
        expires_at: profile.token_expires_at,
      },
    );
  },
};
