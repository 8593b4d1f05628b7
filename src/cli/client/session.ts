import { ImsClient, type ImsClientOptions } from '../../../sdk/client.ts';
import { akskSigner } from './aksk-signer.ts';
import { configPath, profileName, readConfig, writeConfig, type Profile } from './config-file.ts';
import { streamingFetch } from './node-fetch.ts';
import { ConfigError } from './exit-codes.ts';

/** A token this close to its expiry is renewed (or refused) before use. */
const EXPIRY_MARGIN_MS = 60_000;

export interface Session {
  client: ImsClient;
  profileName: string;
  profile: Profile;
  /** The project the caller acts on (token scope or the AK/SK profile's project). */
  projectId(): string;
}

export const USER_AGENT = 'ims-cli/0.1.0';

/** Creates a client for a profile; `env` may override the endpoint and credentials. */
export async function openSession(
  flags: { profile?: string | undefined; endpoint?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<Session> {
  const file = configPath(env);
  const config = await readConfig(file);
  const name = profileName(config, flags.profile, env);
  const stored = config.profiles[name];
  const profile: Profile = { ...(stored ?? { endpoint: '', auth: 'token' }) };
  if (env.IMS_ENDPOINT) profile.endpoint = env.IMS_ENDPOINT;
  if (flags.endpoint) profile.endpoint = flags.endpoint;
  if (env.IMS_TOKEN) Object.assign(profile, { auth: 'token', token: env.IMS_TOKEN });
  if (env.IMS_ACCESS_KEY && env.IMS_SECRET_KEY)
    Object.assign(profile, { auth: 'aksk', access_key: env.IMS_ACCESS_KEY, secret_key: env.IMS_SECRET_KEY });
  if (env.IMS_PROJECT_ID) profile.project_id = env.IMS_PROJECT_ID;

  if (!profile.endpoint) {
    throw new ConfigError(
      stored
        ? `profile "${name}" has no endpoint`
        : `no profile "${name}" in ${file}: run \`ims login\` (or set IMS_ENDPOINT with IMS_TOKEN or IMS_ACCESS_KEY/IMS_SECRET_KEY)`,
    );
  }
  const options: ImsClientOptions = {
    baseUrl: profile.endpoint,
    headers: { 'user-agent': USER_AGENT },
    fetch: streamingFetch,
  };
  switch (profile.auth) {
    case 'aksk':
      if (!profile.access_key || !profile.secret_key)
        throw new ConfigError(`profile "${name}" uses AK/SK but has no access_key/secret_key`);
      options.sign = akskSigner(profile.access_key, profile.secret_key, profile.project_id);
      break;
    case 'token':
      if (!profile.token) throw new ConfigError(`profile "${name}" has no token`);
      options.token = profile.token;
      break;
    case 'password':
      options.token = await freshPasswordToken(name, profile, env, async () => {
        // Keep the renewed token for the next command.
        config.profiles[name] = { ...stored!, ...pick(profile) };
        await writeConfig(file, config);
      });
      break;
    default:
      throw new ConfigError(`profile "${name}" has an unknown auth kind "${String(profile.auth)}"`);
  }
  return {
    client: new ImsClient(options),
    profileName: name,
    profile,
    projectId() {
      if (!profile.project_id)
        throw new ConfigError(
          `profile "${name}" has no project_id (set it with \`ims profile set --project-id\`)`,
        );
      return profile.project_id;
    },
  };
}

function pick(p: Profile): Partial<Profile> {
  const { token, token_expires_at, project_id, user_id } = p;
  return { token, token_expires_at, project_id, user_id };
}

/** The cached token, renewed with IMS_PASSWORD when it is about to expire. */
async function freshPasswordToken(
  name: string,
  profile: Profile,
  env: NodeJS.ProcessEnv,
  save: () => Promise<void>,
): Promise<string> {
  const expires = profile.token_expires_at ? Date.parse(profile.token_expires_at) : 0;
  if (profile.token && expires - Date.now() > EXPIRY_MARGIN_MS) return profile.token;
  if (!env.IMS_PASSWORD || !profile.user) {
    throw new ConfigError(
      profile.token
        ? `the token of profile "${name}" has expired: run \`ims login --profile ${name}\``
        : `profile "${name}" is not signed in: run \`ims login --profile ${name}\``,
    );
  }
  const anonymous = new ImsClient({ baseUrl: profile.endpoint, headers: { 'user-agent': USER_AGENT } });
  const issued = await anonymous.passwordToken({
    user: profile.user,
    password: env.IMS_PASSWORD,
    ...(profile.user_domain ? { userDomain: profile.user_domain } : {}),
    ...(profile.project ? { project: profile.project } : {}),
    ...(profile.project_domain ? { projectDomain: profile.project_domain } : {}),
  });
  Object.assign(profile, tokenFields(issued));
  await save();
  return issued.token;
}

/** What a profile keeps of a Keystone token answer. */
export function tokenFields(issued: Awaited<ReturnType<ImsClient['passwordToken']>>): Partial<Profile> {
  return {
    token: issued.token,
    token_expires_at: issued.body.expires_at,
    ...(issued.body.project?.id ? { project_id: issued.body.project.id } : {}),
    user_id: issued.body.user.id,
  };
}
