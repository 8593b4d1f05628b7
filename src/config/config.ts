import path from 'node:path';
import { decodeKey } from '../adapters/identity/master-key.ts';

/** Everything IMS reads from its environment, validated once at start-up. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Empty: SQLite file in the data dir. */
  databaseUrl: string;
  region: string;
  /** Only used on first start, when the admin user is created. */
  adminPassword: string | undefined;
  maxImageSize: number;
  /** Largest virtual (guest-visible) disk size accepted, checked from the image headers. */
  maxVirtualSize: bigint;
  publicUrl: string;
  trustedProxies: string[];
  tokenTtlSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Seals stored secrets; unset: a key file in the data dir. */
  masterKey: Buffer | undefined;
  /** Addresses (besides loopback) allowed to scrape /metrics without a token. */
  metricsAllow: string[];
  /** An operator's policy file (JSON) over the default policy table; unset: the defaults. */
  policyFile: string | undefined;
  /** Failed logins and bad signatures allowed per source address and window before 429. */
  authFailureLimit: { failures: number; windowSeconds: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const TiB = 1024 ** 4;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Parses `24h`, `90m`, `3600s` or a bare number of seconds. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return null;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Parses `1099511627776`, `1TiB`, `512 MiB`, `2G` (binary units). */
export function parseSize(text: string): number | null {
  const m = /^(\d+)\s*([KMGTP]?)(i?B)?$/i.exec(text.trim());
  if (!m) return null;
  const power = ' KMGTP'.indexOf((m[2] || ' ').toUpperCase());
  const n = Number(m[1]) * 1024 ** power;
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Reads the configuration from an environment. Collects every problem before
 * failing, so an operator fixes them all in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const host = get('IMS_HOST') ?? '127.0.0.1';
  const portText = get('IMS_PORT') ?? '9292';
  const port = Number(portText);
  const portBad = !/^\d+$/.test(portText) || port > 65535;
  if (portBad) problems.push(`IMS_PORT must be a port number 0-65535, got "${portText}"`);

  const dataDir = path.resolve(get('IMS_DATA_DIR') ?? './data');
  const databaseUrl = get('IMS_DATABASE_URL') ?? '';
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('IMS_DATABASE_URL must be empty (SQLite in the data dir) or a postgres:// URL');
  }

  const region = get('IMS_REGION') ?? 'RegionOne';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(region))
    problems.push(`IMS_REGION "${region}" is not a valid region id`);

  const maxText = get('IMS_MAX_IMAGE_SIZE');
  const maxImageSize = maxText === undefined ? TiB : parseSize(maxText);
  if (maxImageSize === null || maxImageSize <= 0)
    problems.push(`IMS_MAX_IMAGE_SIZE must be a size such as 1TiB, got "${maxText}"`);

  const maxVirtualText = get('IMS_MAX_VIRTUAL_SIZE');
  const maxVirtualSize = maxVirtualText === undefined ? 4 * TiB : parseSize(maxVirtualText);
  if (maxVirtualSize === null || maxVirtualSize <= 0) {
    problems.push(`IMS_MAX_VIRTUAL_SIZE must be a size such as 4TiB, got "${maxVirtualText}"`);
  }

  const ttlText = get('IMS_TOKEN_TTL');
  const tokenTtlSeconds = ttlText === undefined ? 24 * 3600 : parseDuration(ttlText);
  if (tokenTtlSeconds === null || tokenTtlSeconds < 1)
    problems.push(`IMS_TOKEN_TTL must be a duration such as 24h, got "${ttlText}"`);

  const logLevel = (get('IMS_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`IMS_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  let publicUrl = get('IMS_PUBLIC_URL') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  try {
    const u = new URL(publicUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    publicUrl = publicUrl.replace(/\/+$/, '');
  } catch {
    // A URL derived from a bad IMS_PORT is already reported as that.
    if (get('IMS_PUBLIC_URL') !== undefined || !portBad) {
      problems.push(`IMS_PUBLIC_URL must be an http(s) URL, got "${publicUrl}"`);
    }
  }

  const list = (name: string) =>
    (get(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const trustedProxies = list('IMS_TRUSTED_PROXIES');
  const metricsAllow = list('IMS_METRICS_ALLOW');

  const policyFile = get('IMS_POLICY_FILE');
  const limitText = get('IMS_AUTH_FAILURE_LIMIT') ?? '20/60s';
  const limitMatch = /^(\d+)\s*\/\s*(\S+)$/.exec(limitText);
  const limitWindow = limitMatch ? parseDuration(limitMatch[2]!) : null;
  if (!limitMatch || Number(limitMatch[1]) < 1 || limitWindow === null || limitWindow < 1) {
    problems.push(`IMS_AUTH_FAILURE_LIMIT must be failures/window such as 10/60s, got "${limitText}"`);
  }

  const masterKeyText = get('IMS_MASTER_KEY');
  let masterKey: Buffer | undefined;
  if (masterKeyText !== undefined) {
    try {
      masterKey = decodeKey(masterKeyText, 'IMS_MASTER_KEY');
    } catch (err) {
      problems.push((err as Error).message);
    }
  }

  if (problems.length) throw new ConfigError(problems);
  return {
    host,
    port,
    dataDir,
    databaseUrl,
    region,
    adminPassword: get('IMS_ADMIN_PASSWORD'),
    maxImageSize: maxImageSize!,
    maxVirtualSize: BigInt(maxVirtualSize!),
    publicUrl,
    trustedProxies,
    tokenTtlSeconds: tokenTtlSeconds!,
    logLevel: logLevel as Config['logLevel'],
    metricsAllow,
    masterKey,
    policyFile: policyFile === undefined ? undefined : path.resolve(policyFile),
    authFailureLimit: { failures: Number(limitMatch![1]), windowSeconds: limitWindow! },
  };
}
