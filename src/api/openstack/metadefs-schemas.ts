/**
 * JSON-schema documents served at GET /v2/schemas/metadefs/{kind}, in the
 * shape Glance returns: glanceclient builds its metadefs models from them and
 * validates what it sends against them, and tempest checks their names.
 * Every call builds a new object.
 */
import { NAME_MAX } from '../../domain/metadefs.ts';

type Schema = Record<string, unknown>;

const readOnlyTime = (description: string): Schema => ({
  type: 'string',
  readOnly: true,
  description,
  format: 'date-time',
});

const TIMES = {
  created_at: readOnlyTime('Date and time of the creation (READ-ONLY)'),
  updated_at: readOnlyTime('Date and time of the last modification (READ-ONLY)'),
};

const name = (description: string): Schema => ({ type: 'string', maxLength: NAME_MAX, description });

/** The definitions Glance's metadefs schemas share. */
function definitions(): Schema {
  const positiveInteger = { type: 'integer', minimum: 0 };
  const positiveIntegerDefault0 = { allOf: [{ $ref: '#/definitions/positiveInteger' }, { default: 0 }] };
  const stringArray = { type: 'array', items: { type: 'string' }, uniqueItems: true };
  return {
    positiveInteger,
    positiveIntegerDefault0,
    stringArray,
    property: { type: 'object', additionalProperties: propertyDefinition() },
  };
}

/** The keywords a property definition may have (without its name). */
function propertyKeywords(): Schema {
  return {
    title: { type: 'string' },
    description: { type: 'string' },
    operators: { type: 'array', items: { type: 'string' } },
    type: { type: 'string', enum: ['array', 'boolean', 'integer', 'number', 'object', 'string', null] },
    required: { $ref: '#/definitions/stringArray' },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    maxLength: { $ref: '#/definitions/positiveInteger' },
    minLength: { $ref: '#/definitions/positiveIntegerDefault0' },
    pattern: { type: 'string', format: 'regex' },
    enum: { type: 'array' },
    readonly: { type: 'boolean' },
    default: {},
    items: {
      type: 'object',
      properties: {
        type: { type: 'string', enum: ['array', 'boolean', 'integer', 'number', 'object', 'string', null] },
        enum: { type: 'array' },
      },
    },
    uniqueItems: { type: 'boolean', default: false },
    maxItems: { $ref: '#/definitions/positiveInteger' },
    minItems: { $ref: '#/definitions/positiveIntegerDefault0' },
    additionalItems: { type: 'boolean' },
  };
}

function propertyDefinition(): Schema {
  return {
    type: 'object',
    required: ['title', 'type'],
    properties: { name: name('Name of the property'), ...propertyKeywords() },
  };
}

const links = (...rels: [string, string][]) => rels.map(([rel, href]) => ({ rel, href }));
const ITEM_LINKS = () => links(['self', '{self}'], ['describedby', '{schema}']);
const COLLECTION_LINKS = () => links(['first', '{first}'], ['next', '{next}'], ['describedby', '{schema}']);

function collection(schemaName: string, key: string, item: Schema): Schema {
  return {
    name: schemaName,
    properties: {
      [key]: { type: 'array', items: item },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: COLLECTION_LINKS(),
  };
}

export function namespaceSchema(): Schema {
  return {
    name: 'namespace',
    properties: {
      namespace: name('The unique namespace text.'),
      display_name: name('The user friendly name for the namespace. Used by UI if available.'),
      description: {
        type: 'string',
        maxLength: 500,
        description: 'Provides a user friendly description of the namespace.',
      },
      visibility: {
        type: 'string',
        description: 'Scope of namespace accessibility.',
        enum: ['public', 'private'],
      },
      protected: { type: ['boolean', 'null'], description: 'If true, namespace will not be deletable.' },
      owner: { type: 'string', maxLength: 255, description: 'Owner of the namespace.' },
      ...TIMES,
      schema: { type: 'string', readOnly: true },
      self: { type: 'string', readOnly: true },
      resource_type_associations: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            prefix: { type: 'string' },
            properties_target: { type: 'string' },
          },
        },
      },
      properties: { $ref: '#/definitions/property' },
      objects: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            required: { $ref: '#/definitions/stringArray' },
            properties: { $ref: '#/definitions/property' },
          },
        },
      },
      tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
    },
    additionalProperties: false,
    definitions: definitions(),
    required: ['namespace'],
    links: ITEM_LINKS(),
  };
}

export const namespacesSchema = (): Schema => collection('namespaces', 'namespaces', namespaceSchema());

export function resourceTypeSchema(): Schema {
  return {
    name: 'resource_type_association',
    properties: {
      name: name('Resource type names should be aligned with Heat resource types whenever possible.'),
      prefix: {
        type: 'string',
        maxLength: NAME_MAX,
        description: 'Specifies the prefix to use for the given resource type.',
      },
      properties_target: {
        type: 'string',
        maxLength: NAME_MAX,
        description: 'Some resource types allow more than one key / value pair per instance.',
      },
      ...TIMES,
    },
    additionalProperties: false,
    required: ['name'],
    links: ITEM_LINKS(),
  };
}

export const resourceTypesSchema = (): Schema =>
  collection('resource_type_associations', 'resource_type_associations', resourceTypeSchema());

export function objectSchema(): Schema {
  return {
    name: 'object',
    properties: {
      name: name('Name of the object'),
      description: { type: 'string' },
      required: { $ref: '#/definitions/stringArray' },
      properties: { $ref: '#/definitions/property' },
      schema: { type: 'string', readOnly: true },
      self: { type: 'string', readOnly: true },
      ...TIMES,
    },
    additionalProperties: false,
    definitions: definitions(),
    required: ['name'],
    links: ITEM_LINKS(),
  };
}

export const objectsSchema = (): Schema => collection('objects', 'objects', objectSchema());

export function propertySchema(): Schema {
  return {
    name: 'property',
    properties: { name: name('Name of the property'), ...propertyKeywords() },
    additionalProperties: false,
    definitions: definitions(),
    required: ['name', 'title', 'type'],
  };
}

export function propertiesSchema(): Schema {
  return {
    name: 'properties',
    properties: {
      properties: { $ref: '#/definitions/property_columns' },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: COLLECTION_LINKS(),
    definitions: {
      ...definitions(),
      property_columns: { type: 'object', additionalProperties: propertyDefinition() },
    },
  };
}

export function tagSchema(): Schema {
  return {
    name: 'tag',
    properties: { name: name('Name of the tag'), ...TIMES },
    additionalProperties: false,
    required: ['name'],
    links: ITEM_LINKS(),
  };
}

export const tagsSchema = (): Schema => collection('tags', 'tags', tagSchema());

/** Each schema by the last part of its path. */
export const METADEF_SCHEMAS: Record<string, () => Schema> = {
  namespace: namespaceSchema,
  namespaces: namespacesSchema,
  resource_type: resourceTypeSchema,
  resource_types: resourceTypesSchema,
  object: objectSchema,
  objects: objectsSchema,
  property: propertySchema,
  properties: propertiesSchema,
  tag: tagSchema,
  tags: tagsSchema,
};
