import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from './package-root.ts';
import { parseFlavorCatalogue } from '../domain/flavors.ts';
import { parseOsVersionCatalogue } from '../domain/os-versions.ts';
import type { ImageCatalogues } from '../services/images.ts';

/** The catalogues shipped with IMS (what the IMS reference documents); operators may point elsewhere. */
export const SHIPPED_CATALOGUES = {
  osVersions: path.join(packageRoot(), 'catalogue', 'os-versions.json'),
  flavors: path.join(packageRoot(), 'catalogue', 'flavors.json'),
};

async function readJson(file: string, setting: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${setting}: ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads and checks the OS version and flavor catalogues once, at start-up. */
export async function loadCatalogues(files: {
  osVersionsFile: string;
  flavorsFile: string;
}): Promise<ImageCatalogues> {
  const osFile = files.osVersionsFile || SHIPPED_CATALOGUES.osVersions;
  const flavorFile = files.flavorsFile || SHIPPED_CATALOGUES.flavors;
  const osVersions = parseOsVersionCatalogue(await readJson(osFile, 'IMS_OS_VERSIONS_FILE'), osFile);
  const flavors = parseFlavorCatalogue(
    await readJson(flavorFile, 'IMS_FLAVORS_FILE'),
    flavorFile,
    (v) => osVersions.find(v) !== undefined,
  );
  return { osVersions, flavors };
}
