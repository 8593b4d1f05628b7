import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNamespaceCreate } from '../../src/domain/metadefs.ts';
import {
  FIRMWARE_TYPES,
  SERVICE_SET_IMS_PROPERTIES,
  STRING_BOOLEAN_PROPERTIES,
  VIRTUAL_ENV_TYPES,
} from '../../src/domain/ims-properties.ts';

type Prop = { type: string; enum?: string[]; readonly?: boolean };
const DIR = path.resolve('catalogue/metadefs');
const docs = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    file: f,
    doc: JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as Record<string, unknown>,
  }));
const propertiesOf = (name: string) =>
  docs.find((d) => d.doc.namespace === name)!.doc.properties as Record<string, Prop>;

describe('the shipped metadefs catalogue', () => {
  it('is made of valid namespace documents with unique names', () => {
    const names = docs.map(({ file, doc }) => {
      expect(() => parseNamespaceCreate(doc), file).not.toThrow();
      return doc.namespace;
    });
    expect(new Set(names).size).toBe(names.length);
  });

  it('describes the IMS properties as the IMS rules check them', () => {
    const ims = propertiesOf('IMS::Image::Properties');
    for (const [name, prop] of Object.entries(ims)) {
      if ((STRING_BOOLEAN_PROPERTIES as readonly string[]).includes(name))
        expect(prop, name).toMatchObject({ type: 'string', enum: ['true', 'false'] });
      // What IMS derives from __os_version is shown, never written.
      expect(prop.readonly === true, name).toBe(SERVICE_SET_IMS_PROPERTIES.has(name));
    }
    expect(ims.virtual_env_type!.enum).toEqual([...VIRTUAL_ENV_TYPES]);
    expect(propertiesOf('OS::Compute::LibvirtImage').hw_firmware_type!.enum).toEqual([...FIRMWARE_TYPES]);
  });
});
