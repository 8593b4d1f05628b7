import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** One built file of the console, read once: the build is a few hundred KiB. */
export interface StaticFile {
  body: Buffer;
  /** Computed on first request, for clients that accept it. */
  gzipped: Buffer | null | undefined;
  type: string;
  etag: string;
  /** Vite names assets by their content hash: they never change under the same name. */
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg)/;

/** The stamp the build script writes last: its change means a new build to load. */
export const BUILD_STAMP = '.build-hash';

/**
 * The files of a console build by their URL path ("index.html", "assets/x.js").
 * Requests are answered from this map only, so no request path ever reaches the
 * file system: `..`, encoded slashes and symlinks have nothing to resolve.
 */
export class StaticBundle {
  private files = new Map<string, StaticFile>();
  private loadedStamp: number | null = null;

  constructor(readonly root: string) {}

  /** The file at a URL path, reloading the map when the build changed; null when absent. */
  get(urlPath: string): StaticFile | null {
    this.refresh();
    return this.files.get(urlPath) ?? null;
  }

  /** Whether a build is there at all. */
  get built(): boolean {
    this.refresh();
    return this.files.has('index.html');
  }

  private refresh(): void {
    let stamp: number;
    try {
      stamp = statSync(path.join(this.root, BUILD_STAMP)).mtimeMs;
    } catch {
      this.files.clear();
      this.loadedStamp = null;
      return;
    }
    if (stamp === this.loadedStamp) return;
    this.files = readBuild(this.root);
    this.loadedStamp = stamp;
  }
}

function readBuild(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && !entry.name.startsWith('.')) {
        const rel = path.relative(root, full).split(path.sep).join('/');
        const type = TYPES[path.extname(entry.name).toLowerCase()];
        if (!type) continue;
        const body = readFileSync(full);
        files.set(rel, {
          body,
          gzipped: COMPRESSIBLE.test(type) && body.length > 1024 ? undefined : null,
          type,
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
          immutable: rel.startsWith('assets/'),
        });
      }
    }
  };
  walk(root);
  return files;
}

/** The gzip form of a file, made once; null when it is not worth compressing. */
export function gzipped(file: StaticFile): Buffer | null {
  if (file.gzipped === undefined) file.gzipped = gzipSync(file.body, { level: 9 });
  return file.gzipped;
}
