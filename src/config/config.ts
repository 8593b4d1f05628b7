import fs from 'node:fs';
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
  /** Built-in HTTPS (IMS_TLS_CERT, IMS_TLS_KEY: PEM files); unset: plain HTTP, e.g. behind a TLS-terminating load balancer. */
  tls: { certFile: string; keyFile: string } | undefined;
  tokenTtlSeconds: number;
  /** A resumable upload session idle this long is purged with its chunks (IMS_UPLOAD_SESSION_TTL). */
  uploadSessionTtlSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Seals stored secrets; unset: a key file in the data dir. */
  masterKey: Buffer | undefined;
  /** Addresses (besides loopback) allowed to scrape /metrics without a token. */
  metricsAllow: string[];
  /** Where image data lives: files under the data dir, or an S3-compatible object store. */
  store: 'file' | 's3';
  /** Set when any store uses s3 (IMS_STORE=s3, or an s3 entry in IMS_STORES). */
  s3: S3Settings | undefined;

  // --- Import, stores and conversion (issue 4) ---------------------------------------------
  /** Named blob stores (IMS_STORES); the first is the default. */
  stores: StoreSpec[];
  /** Disk format imports are converted to (IMS_CONVERT_TO); null: no conversion. */
  convertTo: ConvertTarget | null;
  /**
   * Bytes per second one conversion may copy (IMS_CONVERT_RATE_LIMIT, qemu-img convert -r), to
   * spare the disks other work shares; null: no limit.
   */
  convertRateLimit: number | null;
  /** Hosts, addresses and CIDRs web-download may reach despite the private-address rule. */
  webDownloadAllow: string[];
  /** The `__os_version` catalogue (JSON); empty: the one shipped in catalogue/. */
  osVersionsFile: string;
  /** The flavor families for `flavor_id` filtering (JSON); empty: the one shipped in catalogue/. */
  flavorsFile: string;
  /** Image quotas of projects without their own (null: unlimited). */
  defaultQuota: { images: number | null; bytes: number | null };
  /** An operator's policy file (JSON) over the default policy table; unset: the defaults. */
  policyFile: string | undefined;
  /** Glance-style property protections (INI, roles format); none when unset. */
  propertyProtectionFile: string | undefined;
  /** JSON file of the peer regions cross-region copies may go to; none when unset. */
  peerRegionsFile: string | undefined;
  /** Failed logins and bad signatures allowed per source address and window before 429. */
  authFailureLimit: { failures: number; windowSeconds: number };
  /**
   * How long a job or an upload stays claimed by a process that stopped renewing it (it died):
   * then another worker takes the job, and the reaper returns the image to its last good state.
   */
  leaseSeconds: number;
  /** The tenants' object store (IMS_USER_S3_*), apart from the image store; unset: none. */
  userS3: UserS3Settings | undefined;
}

/** The IMS_USER_S3_* settings: where users keep the files they import from and export to. */
export interface UserS3Settings {
  endpoint: string;
  region: string;
  /** Both unset: the AWS SDK's default credential chain. */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  forcePathStyle: boolean;
}

/** The IMS_S3_* settings. */
export interface S3Settings {
  /** Unset: AWS's endpoint for the region. */
  endpoint: string | undefined;
  bucket: string;
  region: string;
  /** Both unset: the AWS SDK's default credential chain (environment, files, instance role). */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  forcePathStyle: boolean;
  /** "" or a prefix ending in "/" under which every object is kept, to share a bucket. */
  keyPrefix: string;
  partSize: number;
  concurrency: number;
  multipartCopyThreshold: number;
  /** Seconds a presigned download URL is valid; null (the default): downloads are not offloaded. */
  presignedDownloadTtlSeconds: number | null;
}

/** One entry of IMS_STORES: `name:driver`. */
export interface StoreSpec {
  name: string;
  driver: string;
}

/** Disk formats an import may be converted to: those qemu-img writes and IMS accepts. */
export const CONVERT_TARGETS = ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi', 'qed'] as const;
export type ConvertTarget = (typeof CONVERT_TARGETS)[number];
/** Drivers a store may use; every s3 store uses the IMS_S3_* settings, each under its own key prefix. */
export const STORE_DRIVERS = ['file', 's3'] as const;
/** The store used when IMS_STORES is unset: the file store under <data dir>/images, as before stores had names. */
export const DEFAULT_STORE_NAME = 'default';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
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

/** Parses `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case). */
export function parseBoolean(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(t)) return true;
  if (['false', '0', 'no', 'off'].includes(t)) return false;
  return null;
}

/** `unlimited` (or -1) is null; otherwise the parsed value; undefined when it does not parse. */
function parseQuotaSetting(text: string, parse: (t: string) => number | null): number | null | undefined {
  if (text === 'unlimited' || text === '-1') return null;
  return parse(text) ?? undefined;
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

  const sessionTtlText = get('IMS_UPLOAD_SESSION_TTL');
  const uploadSessionTtlSeconds = sessionTtlText === undefined ? 24 * 3600 : parseDuration(sessionTtlText);
  if (uploadSessionTtlSeconds === null || uploadSessionTtlSeconds < 60)
    problems.push(
      `IMS_UPLOAD_SESSION_TTL must be a duration of at least 1m such as 24h, got "${sessionTtlText}"`,
    );

  const logLevel = (get('IMS_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`IMS_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const tlsCert = get('IMS_TLS_CERT');
  const tlsKey = get('IMS_TLS_KEY');
  let tls: Config['tls'];
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    problems.push(
      'IMS_TLS_CERT and IMS_TLS_KEY must be set together (PEM certificate chain and private key)',
    );
  } else if (tlsCert !== undefined && tlsKey !== undefined) {
    tls = { certFile: path.resolve(tlsCert), keyFile: path.resolve(tlsKey) };
    for (const [name, file] of [
      ['IMS_TLS_CERT', tls.certFile],
      ['IMS_TLS_KEY', tls.keyFile],
    ] as const) {
      if (!fs.existsSync(file)) problems.push(`${name} names a file that does not exist: ${file}`);
    }
  }

  const scheme = tls ? 'https' : 'http';
  let publicUrl = get('IMS_PUBLIC_URL') ?? `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
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
  const propertyProtectionFile = get('IMS_PROPERTY_PROTECTION_FILE');
  const peerRegionsFile = get('IMS_PEER_REGIONS_FILE');
  const limitText = get('IMS_AUTH_FAILURE_LIMIT') ?? '20/60s';
  const limitMatch = /^(\d+)\s*\/\s*(\S+)$/.exec(limitText);
  const limitWindow = limitMatch ? parseDuration(limitMatch[2]!) : null;
  if (!limitMatch || Number(limitMatch[1]) < 1 || limitWindow === null || limitWindow < 1) {
    problems.push(`IMS_AUTH_FAILURE_LIMIT must be failures/window such as 10/60s, got "${limitText}"`);
  }
  const leaseText = get('IMS_LEASE');
  const leaseSeconds = leaseText === undefined ? 30 : parseDuration(leaseText);
  if (leaseSeconds === null || leaseSeconds < 2 || leaseSeconds > 3600)
    problems.push(`IMS_LEASE must be a duration from 2s to 1h, got "${leaseText}"`);

  const masterKeyText = get('IMS_MASTER_KEY');
  let masterKey: Buffer | undefined;
  if (masterKeyText !== undefined) {
    try {
      masterKey = decodeKey(masterKeyText, 'IMS_MASTER_KEY');
    } catch (err) {
      problems.push((err as Error).message);
    }
  }

  const store = (get('IMS_STORE') ?? 'file').toLowerCase();
  if (store !== 'file' && store !== 's3') problems.push(`IMS_STORE must be file or s3, got "${store}"`);
  const { stores, convertTo, convertRateLimit, webDownloadAllow } = importSettings(
    get,
    list,
    problems,
    store === 's3' ? 's3' : 'file',
  );
  let s3: S3Settings | undefined;
  if (stores.some((spec) => spec.driver === 's3')) {
    s3 = readS3Settings(get, problems);
  } else {
    // An S3 setting without an S3 store would silently keep the images on local disk.
    const stray = Object.keys(env).filter((name) => name.startsWith('IMS_S3_') && get(name) !== undefined);
    if (stray.length)
      problems.push(`${stray.sort().join(', ')} set, but no store uses s3 (IMS_STORE, IMS_STORES)`);
  }
  const imageQuotaText = get('IMS_DEFAULT_IMAGE_QUOTA');
  const imageQuota = parseQuotaSetting(imageQuotaText ?? '50', (t) =>
    /^\d{1,9}$/.test(t) ? Number(t) : null,
  );
  if (imageQuota === undefined)
    problems.push(
      `IMS_DEFAULT_IMAGE_QUOTA must be a number of images or "unlimited", got "${imageQuotaText}"`,
    );
  const sizeQuotaText = get('IMS_DEFAULT_IMAGE_SIZE_QUOTA');
  const sizeQuota = parseQuotaSetting(sizeQuotaText ?? 'unlimited', parseSize);
  if (sizeQuota === undefined)
    problems.push(
      `IMS_DEFAULT_IMAGE_SIZE_QUOTA must be a size such as 500GiB or "unlimited", got "${sizeQuotaText}"`,
    );

  const userS3 = readUserS3Settings(env, get, problems);

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
    tls,
    tokenTtlSeconds: tokenTtlSeconds!,
    uploadSessionTtlSeconds: uploadSessionTtlSeconds!,
    logLevel: logLevel as Config['logLevel'],
    metricsAllow,
    masterKey,
    store: store as Config['store'],
    s3,
    stores,
    convertTo,
    convertRateLimit,
    webDownloadAllow,
    osVersionsFile: get('IMS_OS_VERSIONS_FILE') ?? '',
    flavorsFile: get('IMS_FLAVORS_FILE') ?? '',
    defaultQuota: { images: imageQuota!, bytes: sizeQuota! },
    policyFile: policyFile === undefined ? undefined : path.resolve(policyFile),
    propertyProtectionFile:
      propertyProtectionFile === undefined ? undefined : path.resolve(propertyProtectionFile),
    peerRegionsFile: peerRegionsFile === undefined ? undefined : path.resolve(peerRegionsFile),
    authFailureLimit: { failures: Number(limitMatch![1]), windowSeconds: limitWindow! },
    leaseSeconds: leaseSeconds!,
    userS3,
  };
}

/** IMS_USER_S3_*: all unset, no tenants' object store; any set, the endpoint is required. */
function readUserS3Settings(
  env: Record<string, string | undefined>,
  get: (name: string) => string | undefined,
  problems: string[],
): UserS3Settings | undefined {
  const names = Object.keys(env).filter((n) => n.startsWith('IMS_USER_S3_') && get(n) !== undefined);
  if (names.length === 0) return undefined;
  const endpoint = get('IMS_USER_S3_ENDPOINT');
  if (endpoint === undefined || !/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) {
    problems.push(
      `IMS_USER_S3_ENDPOINT must be an http(s) URL without a path when IMS_USER_S3_* is set, got "${endpoint ?? ''}"`,
    );
  }
  const region = get('IMS_USER_S3_REGION') ?? 'us-east-1';
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(region))
    problems.push(`IMS_USER_S3_REGION "${region}" is not a valid region name`);
  const accessKeyId = get('IMS_USER_S3_ACCESS_KEY_ID');
  const secretAccessKey = get('IMS_USER_S3_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    problems.push(
      'IMS_USER_S3_ACCESS_KEY_ID and IMS_USER_S3_SECRET_ACCESS_KEY must be set together (or neither)',
    );
  const styleText = get('IMS_USER_S3_FORCE_PATH_STYLE');
  const forcePathStyle = styleText === undefined ? false : parseBoolean(styleText);
  if (forcePathStyle === null)
    problems.push(`IMS_USER_S3_FORCE_PATH_STYLE must be true or false, got "${styleText}"`);
  return {
    endpoint: (endpoint ?? '').replace(/\/$/, ''),
    region,
    accessKeyId,
    secretAccessKey,
    forcePathStyle: forcePathStyle ?? false,
  };
}

function readS3Settings(get: (name: string) => string | undefined, problems: string[]): S3Settings {
  const endpoint = get('IMS_S3_ENDPOINT');
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) {
    problems.push(`IMS_S3_ENDPOINT must be an http(s) URL without a path, got "${endpoint}"`);
  }
  const bucket = get('IMS_S3_BUCKET') ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$/.test(bucket)) {
    problems.push(`IMS_S3_BUCKET must name a bucket (a store uses s3), got "${bucket}"`);
  }
  const region = get('IMS_S3_REGION') ?? 'us-east-1';
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(region))
    problems.push(`IMS_S3_REGION "${region}" is not a valid region name`);
  const accessKeyId = get('IMS_S3_ACCESS_KEY_ID');
  const secretAccessKey = get('IMS_S3_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    problems.push('IMS_S3_ACCESS_KEY_ID and IMS_S3_SECRET_ACCESS_KEY must be set together (or neither)');
  }
  const flag = (name: string) => {
    const text = get(name);
    const value = text === undefined ? false : parseBoolean(text);
    if (value === null) problems.push(`${name} must be true or false, got "${text}"`);
    return value ?? false;
  };
  const forcePathStyle = flag('IMS_S3_FORCE_PATH_STYLE');
  const keyPrefix = get('IMS_S3_KEY_PREFIX') ?? '';
  if (keyPrefix !== '' && !/^([A-Za-z0-9][A-Za-z0-9._-]*\/){1,8}$/.test(keyPrefix)) {
    problems.push(
      `IMS_S3_KEY_PREFIX must be empty or segments ending in "/" such as "ims/", got "${keyPrefix}"`,
    );
  }
  const partSizeSetting = (name: string, fallback: number) => {
    const text = get(name);
    const value = text === undefined ? fallback : parseSize(text);
    if (value === null || value < 5 * MiB || value > 5 * GiB) {
      problems.push(`${name} must be a size from 5MiB to 5GiB, got "${text}"`);
    }
    return value ?? fallback;
  };
  const partSize = partSizeSetting('IMS_S3_PART_SIZE', 16 * MiB);
  const multipartCopyThreshold = partSizeSetting('IMS_S3_MULTIPART_COPY_THRESHOLD', 5 * GiB);
  const concurrencyText = get('IMS_S3_CONCURRENCY') ?? '4';
  const concurrency = Number(concurrencyText);
  if (!/^\d+$/.test(concurrencyText) || concurrency < 1 || concurrency > 64) {
    problems.push(`IMS_S3_CONCURRENCY must be a number from 1 to 64, got "${concurrencyText}"`);
  }
  const presigned = flag('IMS_S3_PRESIGNED_DOWNLOADS');
  const ttlText = get('IMS_S3_PRESIGNED_TTL');
  const ttl = ttlText === undefined ? 300 : parseDuration(ttlText);
  // SigV4 presigned URLs live at most 7 days.
  if (ttl === null || ttl < 1 || ttl > 7 * 86400) {
    problems.push(`IMS_S3_PRESIGNED_TTL must be a duration from 1s to 7d, got "${ttlText}"`);
  }
  return {
    endpoint: endpoint?.replace(/\/$/, ''),
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    forcePathStyle,
    keyPrefix,
    partSize,
    concurrency,
    multipartCopyThreshold,
    presignedDownloadTtlSeconds: presigned ? (ttl ?? 300) : null,
  };
}

/** IMS_STORES, IMS_CONVERT_TO, IMS_CONVERT_RATE_LIMIT and IMS_WEB_DOWNLOAD_ALLOW. */
function importSettings(
  get: (name: string) => string | undefined,
  list: (name: string) => string[],
  problems: string[],
  defaultDriver: 'file' | 's3',
): Pick<Config, 'stores' | 'convertTo' | 'convertRateLimit' | 'webDownloadAllow'> {
  const stores: StoreSpec[] = [];
  const storesText = get('IMS_STORES');
  for (const entry of list('IMS_STORES')) {
    const m = /^([a-z0-9][a-z0-9_-]{0,62}):([a-z0-9]+)$/i.exec(entry);
    if (!m) {
      problems.push(`IMS_STORES entries must be name:driver (e.g. fast:file), got "${entry}"`);
      continue;
    }
    const [, name, driver] = m as unknown as [string, string, string];
    if (!(STORE_DRIVERS as readonly string[]).includes(driver)) {
      problems.push(
        `IMS_STORES: store "${name}" has unknown driver "${driver}" (known: ${STORE_DRIVERS.join(', ')})`,
      );
    } else if (stores.some((s) => s.name === name)) {
      problems.push(`IMS_STORES: store "${name}" is named twice`);
    } else stores.push({ name, driver });
  }
  if (storesText === undefined) stores.push({ name: DEFAULT_STORE_NAME, driver: defaultDriver });
  else if (stores.length === 0 && !problems.some((p) => p.startsWith('IMS_STORES')))
    problems.push('IMS_STORES names no store');

  const convertText = get('IMS_CONVERT_TO')?.toLowerCase();
  let convertTo: ConvertTarget | null = null;
  if (convertText !== undefined && convertText !== 'off') {
    if ((CONVERT_TARGETS as readonly string[]).includes(convertText))
      convertTo = convertText as ConvertTarget;
    else if (convertText === 'zvhd' || convertText === 'zvhd2')
      problems.push(`IMS_CONVERT_TO=${convertText}: format not supported by this deployment (closed format)`);
    else
      problems.push(
        `IMS_CONVERT_TO must be off or one of ${CONVERT_TARGETS.join(', ')}, got "${convertText}"`,
      );
  }

  const rateText = get('IMS_CONVERT_RATE_LIMIT');
  let convertRateLimit: number | null = null;
  if (rateText !== undefined && rateText.toLowerCase() !== 'off') {
    convertRateLimit = parseSize(rateText);
    if (convertRateLimit === null || convertRateLimit < MiB)
      problems.push(
        `IMS_CONVERT_RATE_LIMIT must be off or a size per second of at least 1MiB, got "${rateText}"`,
      );
  }

  const webDownloadAllow = list('IMS_WEB_DOWNLOAD_ALLOW');
  for (const entry of webDownloadAllow) {
    if (!/^[A-Za-z0-9.:_[\]-]+(\/\d{1,3})?$/.test(entry))
      problems.push(`IMS_WEB_DOWNLOAD_ALLOW entries must be host names, addresses or CIDRs, got "${entry}"`);
  }
  return { stores, convertTo, convertRateLimit, webDownloadAllow };
}
