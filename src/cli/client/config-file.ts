import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './exit-codes.ts';

/** How a profile signs in. */
export type AuthKind = 'password' | 'token' | 'aksk';

/** One endpoint and identity. Secrets live only in this file (mode 0600) or the environment. */
export interface Profile {
  endpoint: string;
  auth: AuthKind;
  /** password: who signs in; the password itself is never stored, only the token it bought. */
  user?: string;
  user_domain?: string;
  project?: string;
  project_domain?: string;
  /** The token (password: cached from `ims login`; token: given). */
  token?: string;
  token_expires_at?: string;
  /** The project the token or keys act on (needed in IMS paths such as /v1/{project_id}/jobs). */
  project_id?: string;
  user_id?: string;
  access_key?: string;
  secret_key?: string;
}

export interface ConfigFile {
  current?: string;
  profiles: Record<string, Profile>;
}

/** IMS_CONFIG, else $XDG_CONFIG_HOME/ims/config.json, else ~/.config/ims/config.json. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IMS_CONFIG) return path.resolve(env.IMS_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'ims', 'config.json');
}

export async function readConfig(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file} is not valid JSON; fix or remove it`);
  }
  const profiles = (parsed as ConfigFile | null)?.profiles;
  if (typeof profiles !== 'object' || profiles === null || Array.isArray(profiles))
    throw new ConfigError(`${file}: expected {"profiles": {...}}`);
  return parsed as ConfigFile;
}

/** Written whole to a temp file and renamed: a crash never leaves half a config. Mode 0600: it holds secrets. */
export async function writeConfig(file: string, config: ConfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** The profile to use: --profile, else IMS_PROFILE, else the config's current one, else "default". */
export function profileName(config: ConfigFile, flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag || env.IMS_PROFILE || config.current || 'default';
}
