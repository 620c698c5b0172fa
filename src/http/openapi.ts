// The OpenAPI 3.1 document, assembled from ROUTES and the JSON Schemas in schemas/: the same files the service
// validates bodies with, so the document cannot drift from what is enforced. Built once per version and cached.
import { readFileSync } from 'node:fs';
import { SCHEMA_DIR } from '../schemas.js';
import { METRICS_CONTENT_TYPE, PAGES, ROUTES, STATUS_BY_ERROR, type PageField, type QueryParam, type Route, type RouteError, type RouteTag } from './route-table.js';

export const OPENAPI_VERSION = '3.1.0';
const SCHEMA_SUFFIX = '.schema.json';
const COMPONENTS = '#/components/schemas/';
const JSON_MEDIA = 'application/json';
const FORM_MEDIA = 'application/x-www-form-urlencoded';

const TAGS: Record<RouteTag, string> = {
  decide: 'Decisions on logins and actions.',
  mfa: 'Factor enrollment (TOTP, codes by message, push devices), verification, push approval and backup codes.',
  users: "A user's MFA state and known devices.",
  recovery: 'Account recovery after a lost factor: opened by an administrator, cancellable by the user until it takes effect.',
  admin: 'Administrator actions: unlocking factors, approving enrollments.',
  gateway: 'The pre-auth hook gateways call before every request (nginx, Traefik, Caddy, Envoy); the page they send users to is under portal.',
  portal: 'The MFA page gateways send users to: HTML for browsers (sign-in, TOTP enrollment, backup codes), no API key.',
  health: 'Liveness, readiness, metrics and this document; no API key.',
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface OpenApiOptions {
  /** `info.version`; default the package's version. */
  version?: string;
}

const cache = new Map<string, JsonObject>();

/** The OpenAPI 3.1 document (built once per version, then the same object: do not mutate it). */
export function buildOpenApi({ version = packageVersion() }: OpenApiOptions = {}): JsonObject {
  let doc = cache.get(version);
  if (!doc) {
    doc = deepFreeze(assemble(version));
    cache.set(version, doc);
  }
  return doc;
}

/** A schema file name (`decision`) from a `$ref` target (`decision.schema.json#/...`); null for a local ref. */
function fileOfRef(ref: string): string | null {
  const [file] = ref.split('#', 1);
  if (!file) return null;
  if (!file.endsWith(SCHEMA_SUFFIX) || file.includes('/')) {
    throw new Error(`schemas/: unsupported $ref "${ref}" (only refs to sibling *${SCHEMA_SUFFIX} files and local ones)`);
  }
  return file.slice(0, -SCHEMA_SUFFIX.length);
}

/** `$ref` of schema `name` rewritten into the document: `x.schema.json#/p` -> `#/components/schemas/x/p`, `#/p` ->
 * `#/components/schemas/<name>/p`. */
export function rewriteRef(ref: string, name: string): string {
  const hash = ref.indexOf('#');
  const pointer = hash === -1 ? '' : ref.slice(hash + 1);
  if (pointer !== '' && !pointer.startsWith('/')) throw new Error(`schemas/${name}: unsupported $ref "${ref}" (anchors are not)`);
  return `${COMPONENTS}${fileOfRef(ref) ?? name}${pointer}`;
}

function loadSchema(name: string): JsonObject {
  const text = readFileSync(new URL(`${name}${SCHEMA_SUFFIX}`, SCHEMA_DIR), 'utf8');
  return JSON.parse(text) as JsonObject;
}

/** Every `$ref` string under `node` (keys named `$ref` whose value is a string). */
function refsOf(node: Json, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) refsOf(x, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsOf(v, out);
    }
  }
  return out;
}

/** A copy of schema `name` fit for components: refs rewritten, `$schema` dropped (the document's dialect is 2020-12). */
function toComponent(node: Json, name: string, root = true): Json {
  if (Array.isArray(node)) return node.map((x) => toComponent(x, name, false));
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    if (root && k === '$schema') continue;
    out[k] = k === '$ref' && typeof v === 'string' ? rewriteRef(v, name) : toComponent(v, name, false);
  }
  return out;
}

/** The schema files the routes reference, with those they reference in turn. */
function referencedSchemas(): Map<string, JsonObject> {
  const roots = new Set<string>(['error']);
  for (const r of [...ROUTES, ...PAGES]) {
    if (r.request) roots.add(r.request);
    if (r.emptyBody) roots.add(r.emptyBody);
    if (r.response) roots.add(r.response);
    for (const err of r.errors) if (err.response) roots.add(err.response);
    for (const p of [...(r.params ?? []), ...(r.query ?? []).filter(isQueryParam)]) {
      const file = fileOfRef(p.schema);
      if (file === null) throw new Error(`route ${r.id}: parameter ${p.name} needs a schema file ref, not "${p.schema}"`);
      roots.add(file);
    }
  }
  const found = new Map<string, JsonObject>();
  const queue = [...roots];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (found.has(name)) continue;
    const schema = loadSchema(name);
    found.set(name, schema);
    for (const ref of refsOf(schema)) {
      const file = fileOfRef(ref);
      if (file !== null && !found.has(file)) queue.push(file);
    }
  }
  return new Map([...found.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

const jsonContent = (schema: Json): JsonObject => ({ [JSON_MEDIA]: { schema } });
const ref = (name: string): JsonObject => ({ $ref: `${COMPONENTS}${name}` });

const LOCATION: JsonObject = { description: 'Where the browser goes next.', schema: { type: 'string', format: 'uri-reference' } };
const setCookie = (what: string): JsonObject => ({ description: `Sets ${what}.`, schema: { type: 'string' } });
const text = (media: string): JsonObject => ({ [media]: { schema: { type: 'string' } } });

const RETRY_AFTER: JsonObject = {
  description: 'Seconds to wait before the next attempt (as retry_after_s).',
  schema: { type: 'integer', minimum: 0 },
};
const WWW_AUTHENTICATE: JsonObject = {
  description: 'The Bearer challenge (RFC 6750): error="invalid_token" for an unknown key, error="insufficient_scope" and the scope on a 403.',
  schema: { type: 'string' },
};

function errorResponse(err: RouteError): JsonObject {
  const codes = err.codes.map((c) => `\`${c}\``).join(', ');
  const response: JsonObject = { description: codes ? `${codes}: ${err.description}.` : `${err.description}.` };
  if (err.location) {
    // A redirect: no body.
  } else if (err.plain) {
    response.content = text('text/plain');
  } else if (err.html) {
    response.content = text('text/html');
  } else if (err.response) {
    response.content = jsonContent(ref(err.response));
  } else {
    // The envelope, with `error` narrowed to the codes this status carries on this route.
    response.content = jsonContent({ $ref: `${COMPONENTS}error`, type: 'object', properties: { error: { enum: err.codes } } });
    response['x-error-codes'] = err.codes;
  }
  const headers: JsonObject = {};
  if (err.status === 429) headers['Retry-After'] = RETRY_AFTER;
  if (err.codes.includes('unauthorized') || err.codes.includes('forbidden')) headers['WWW-Authenticate'] = WWW_AUTHENTICATE;
  if (err.location) headers.Location = LOCATION;
  if (err.setCookie) headers['Set-Cookie'] = setCookie(err.setCookie);
  if (Object.keys(headers).length > 0) response.headers = headers;
  return response;
}

function successResponse(r: Route): JsonObject {
  const description = r.summary;
  if (r.contentType === 'none') return { description: `${description}: allowed; Remote-User and X-MFA-Decision carry the answer.` };
  if (r.contentType === 'text/plain') return { description: `${description} (${METRICS_CONTENT_TYPE}).`, content: text('text/plain') };
  if (r.contentType === 'text/html' || r.contentType === 'text/css') {
    const response: JsonObject = { description: `${description}.`, content: text(r.contentType) };
    if (r.setCookie) response.headers = { 'Set-Cookie': setCookie(r.setCookie) };
    return response;
  }
  const schema: Json = r.response ? ref(r.response) : { type: 'object', description: 'An OpenAPI 3.1 document.' };
  return { description: `${description}.`, content: jsonContent(schema) };
}

/** An API route's query parameter (with a schema from schemas/), as opposed to an HTML page's text field. */
const isQueryParam = (q: PageField | QueryParam): q is QueryParam => 'schema' in q;

function fieldSchema(f: PageField): JsonObject {
  const schema: JsonObject = { type: 'string', maxLength: f.maxLength };
  if (f.pattern) schema.pattern = f.pattern;
  if (f.enum) schema.enum = f.enum;
  return schema;
}

/** A form body: each field a string (a longer value than maxLength is read as absent, not refused). */
function formBody(fields: PageField[]): JsonObject {
  const properties: JsonObject = {};
  for (const f of fields) properties[f.name] = { ...fieldSchema(f), description: f.description };
  return {
    required: true,
    content: { [FORM_MEDIA]: { schema: { type: 'object', required: fields.filter((f) => f.required).map((f) => f.name), properties } } },
  };
}

function operation(r: Route): JsonObject {
  const scopeNote = r.scope
    ? `Requires an API key with the \`${r.scope}\` scope (Authorization: Bearer <key>).`
    : 'No API key needed.';
  const op: JsonObject = {
    operationId: r.id,
    summary: r.summary,
    description: r.description ? `${r.description}\n\n${scopeNote}` : scopeNote,
    tags: [r.tag],
    security: r.scope ? [{ bearerAuth: [r.scope] }] : [],
  };
  if (r.scope) op['x-required-scope'] = r.scope;
  const parameters: Json[] = [
    ...(r.params ?? []).map((p) => ({
      name: p.name,
      in: 'path',
      required: true,
      description: p.description,
      schema: { $ref: rewriteRef(p.schema, '') },
    })),
    ...(r.query ?? []).map((q) => ({
      name: q.name,
      in: 'query',
      required: q.required === true,
      description: q.description,
      schema: isQueryParam(q) ? { $ref: rewriteRef(q.schema, '') } : fieldSchema(q),
    })),
  ];
  if (parameters.length > 0) op.parameters = parameters;
  if ([r.request, r.emptyBody, r.form].filter(Boolean).length > 1) throw new Error(`route ${r.id}: one of request, emptyBody or form`);
  if (r.request) op.requestBody = { required: true, content: jsonContent(ref(r.request)) };
  if (r.emptyBody) {
    op.requestBody = {
      required: false,
      description: 'No body: leave it out (an empty JSON object is accepted too). Any other body is refused.',
      content: jsonContent(ref(r.emptyBody)),
    };
  }
  if (r.form) op.requestBody = formBody(r.form);
  const responses: JsonObject = { [String(r.status)]: successResponse(r) };
  for (const err of r.errors) {
    for (const code of err.codes) {
      if (STATUS_BY_ERROR[code] !== err.status) {
        throw new Error(`route ${r.id}: ${code} is documented as ${err.status} but STATUS_BY_ERROR says ${STATUS_BY_ERROR[code]}`);
      }
    }
    if (responses[String(err.status)]) throw new Error(`route ${r.id}: status ${err.status} twice`);
    responses[String(err.status)] = errorResponse(err);
  }
  op.responses = responses;
  return op;
}

function assemble(version: string): JsonObject {
  const paths: JsonObject = {};
  for (const r of [...ROUTES, ...PAGES]) {
    const item = (paths[r.path] ??= {}) as JsonObject;
    if (item[r.method]) throw new Error(`route ${r.id}: ${r.method.toUpperCase()} ${r.path} twice`);
    item[r.method] = operation(r);
  }
  const schemas: JsonObject = {};
  for (const [name, schema] of referencedSchemas()) schemas[name] = toComponent(schema, name);
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'mfa-gate',
      version,
      description:
        'Policy-driven, risk-based MFA enforcement: decisions on logins, TOTP and backup-code factors, recovery. ' +
        'Every bad input is a 4xx with the error envelope `{ error, message, details }`; switch on `error`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: (Object.keys(TAGS) as RouteTag[]).map((name) => ({ name, description: TAGS[name] })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key: `Authorization: Bearer <key>`. Keys carry scopes (decide, mfa, admin); each operation names the one it ' +
            'needs (x-required-scope). 401 without a valid key, 403 with a key lacking the scope.',
        },
      },
    },
  };
}

let pkgVersion: string | undefined;
function packageVersion(): string {
  pkgVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return pkgVersion;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
