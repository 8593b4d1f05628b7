/**
 * Which file names may reach qemu-img. qemu-img reads `proto:...` and
 * `json:{...}` names as block-driver specs (NBD, HTTP, quorum, ...), not as
 * paths, and follows symlinks like any program. So a name is accepted only when
 * it is, by construction, a plain absolute path to a service-chosen file in the
 * service's private work directory: a conservative character set (no ':', ',',
 * spaces, quotes or control characters), no `.`/`..` segments, inside the work
 * dir once symlinks in the directories are resolved, and not a symlink itself.
 */
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Everything a UUID- or counter-based temp name needs, and nothing qemu parses specially. */
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

/** Why a path was refused; the caller wraps it in its own typed error. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
}

/** Syntactic check only (no file system access): absolute, normalised, safe characters. */
export function checkPathSyntax(p: string, what: string): void {
  if (typeof p !== 'string' || p.length === 0) throw new UnsafePathError(`${what}: not a path`);
  if (p.length > 1024) throw new UnsafePathError(`${what}: path too long`);
  if (!path.isAbsolute(p)) throw new UnsafePathError(`${what}: not an absolute path`);
  if (!SAFE_PATH.test(p)) {
    throw new UnsafePathError(
      `${what}: characters outside [A-Za-z0-9._/-] (qemu-img may read them as a protocol)`,
    );
  }
  if (path.posix.normalize(p) !== p || p.endsWith('/')) {
    throw new UnsafePathError(`${what}: not a normalised path`);
  }
}

/** `p` lies strictly inside `dir` (both already syntax-checked). */
function isInside(dir: string, p: string): boolean {
  const rel = path.posix.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !path.posix.isAbsolute(rel);
}

/**
 * Checks the work dir itself and that `p` is under it, lexically and after
 * resolving symlinks in the parent directories (a symlinked sub-directory must
 * not lead qemu-img out of the work dir).
 */
async function checkUnder(workDir: string, p: string, what: string): Promise<void> {
  checkPathSyntax(workDir, 'work dir');
  checkPathSyntax(p, what);
  if (!isInside(workDir, p)) throw new UnsafePathError(`${what}: not inside the work dir`);
  let realDir: string;
  let realParent: string;
  try {
    realDir = await fs.realpath(workDir);
    realParent = await fs.realpath(path.dirname(p));
  } catch {
    throw new UnsafePathError(`${what}: its directory does not exist`);
  }
  if (realParent !== realDir && !isInside(realDir, realParent)) {
    throw new UnsafePathError(`${what}: resolves outside the work dir`);
  }
}

/** A source: inside the work dir and a regular file (not a symlink, FIFO or device). */
export async function checkSourcePath(workDir: string, p: string): Promise<void> {
  await checkUnder(workDir, p, 'source');
  const st = await fs.lstat(p).catch(() => null);
  if (!st) throw new UnsafePathError('source: no such file');
  if (!st.isFile()) throw new UnsafePathError('source: not a regular file');
  await fs.access(p, fsConstants.R_OK).catch(() => {
    throw new UnsafePathError('source: not readable');
  });
}

/**
 * A target: inside the work dir and not existing yet. A fresh path means a
 * conversion can never overwrite its source or any other file, and that what
 * is at the path after a failure is ours to delete.
 */
export async function checkTargetPath(workDir: string, p: string): Promise<void> {
  await checkUnder(workDir, p, 'target');
  const st = await fs.lstat(p).catch(() => null);
  if (st) throw new UnsafePathError('target: already exists (conversions write to a fresh path)');
}
