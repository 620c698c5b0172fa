// The OpenAPI document: valid OpenAPI 3.1, exactly the routes of ROUTES, every $ref resolving inside it, request
// schemas that compile there and behave as the served validators do, and STATUS_BY_ERROR covering every code.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { DecisionEngine } from '../engine.js';
import { ErrorCode, MfaGateError } from '../errors.js';
import { generateBackupCodes } from '../factors/backup-codes/index.js';
import { FactorErrorCode } from '../factors/errors.js';
import { buildUri, generateSecret, qrCodes } from '../factors/totp/index.js';
import { loadPolicy } from '../policy/index.js';
import { SCHEMA_DIR, validator } from '../schemas.js';
import { openSqliteStore } from '../store/index.js';
import { buildOpenApi, rewriteRef } from './openapi.js';
import { FACTOR_EXCEPTION_CODES, HttpErrorCode, PAGES, ROUTES, STATUS_BY_ERROR, honoPath, statusOf } from './route-table.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { [key: string]: any };

const doc = buildOpenApi({ version: '1.2.3' }) as Doc;
const DOC_ID = 'urn:mfa-gate:test:openapi';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const NOT_API_SCHEMAS = ['policy', 'policy-test', 'eval-context', 'user-state'];
/** The JSON API and the HTML pages: everything the document describes. */
const ALL_ROUTES = [...ROUTES, ...PAGES];

/** An ajv holding the document (as the one schema `DOC_ID`), so component schemas compile with their refs. */
function documentAjv(): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormatsModule.default(ajv);
  ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'tags', 'paths', 'components']);
  ajv.addSchema({ ...structuredClone(doc), $id: DOC_ID });
  return ajv;
}
const ajv = documentAjv();
const compiled = new Map<string, ValidateFunction>();
function docValidator(name: string): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    v = ajv.compile({ $ref: `${DOC_ID}#/components/schemas/${name}` });
    compiled.set(name, v);
  }
  return v;
}

function resolvePointer(root: Json, pointer: string): Json | undefined {
  let cur: Json | undefined = root;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[Number(seg)] : Object.hasOwn(cur, seg) ? cur[seg] : undefined;
  }
  return cur;
}

function collectRefs(node: Json, at: string, out: { at: string; ref: string }[] = []) {
  if (Array.isArray(node)) node.forEach((x, i) => collectRefs(x, `${at}/${i}`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push({ at, ref: v });
      else collectRefs(v, `${at}/${k}`, out);
    }
  }
  return out;
}

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const T = '2026-06-01T12:00:00.000Z';

/** A valid body for every request schema a route takes. */
const REQUEST_SAMPLES: Record<string, Record<string, unknown>[]> = {
  context: [
    { user: { id: 'alice' } },
    { user: { id: 'alice', type: 'human', groups: ['staff'] }, ip: '81.2.69.142', user_agent: CHROME, device_id: 'dev-1', action: 'payment.refund', sensitive: true, attributes: { tier: 'gold' } },
  ],
  'enroll-request': [
    { user_id: 'alice' },
    { user_id: 'alice', account_name: 'alice@example.com', issuer: 'ACME Co', challenge_id: '3f1c2b9e-7d4a-4c1e-9b8f-0a1b2c3d4e5f', code: '123 456', ip: '2001:db8::1' },
  ],
  'confirm-request': [{ user_id: 'alice', code: '123456' }, { user_id: 'alice', code: '123456', ip: null }],
  'verify-request': [
    { user_id: 'alice', code: 'ABCD-EFGH-JKMN' },
    { user_id: 'alice', code: '123456', challenge_id: 'c-1', ip: '81.2.69.142' },
    { user_id: 'alice', code: '123456', factor: 'message', challenge_id: 'c-1' },
  ],
  'message-enroll-request': [
    { user_id: 'alice', channel: 'sms', address: '+33 6 12 34 56 78' },
    { user_id: 'alice', channel: 'email', address: 'alice@example.com', code: '123456', challenge_id: 'c-1', ip: '81.2.69.142' },
  ],
  'message-confirm-request': [{ user_id: 'alice', code: '123 456', ip: null }],
  'message-send-request': [{ user_id: 'alice' }, { user_id: 'alice', challenge_id: 'c-1', ip: '2001:db8::1' }],
  'push-device-request': [
    { user_id: 'alice', device_id: 'alice-phone', public_key: 'MCowBQYDK2VwAyEAtniJJFaHXAZRQE6mrj8g3E55X/tghq5VNbQTAnDd7ak=', name: "Alice's phone" },
    { user_id: 'alice', device_id: 'ios:4F2A.9', public_key: 'AAAA', name: 'iPhone 15', code: 'ABCD-EFGH-JKMN', challenge_id: 'c-1', ip: null },
  ],
  'push-start-request': [{ user_id: 'alice' }, { user_id: 'alice', challenge_id: 'c-1', device_id: 'alice-phone', ip: '81.2.69.142' }],
  'push-respond-request': [
    { device_id: 'alice-phone', decision: 'approve', number: 42, signature: 'c2lnbmF0dXJl' },
    { device_id: 'alice-phone', decision: 'deny', number: 0, signature: 'ab-_cd==' },
  ],
  'regenerate-request': [{ user_id: 'alice', code: '123456', ip: '81.2.69.142' }],
  'recovery-request': [{ user_id: 'alice', verified_by: 'admin-bob', verification: 'passport checked in person' }],
  'recovery-cancel-request': [{ code: '123456' }, { code: 'abcd efgh jkmn', ip: '10.0.0.1' }],
  'approve-enrollment-request': [{ approved_by: 'admin-bob' }],
  'unlock-request': [{}],
};

/** Bodies each request schema must refuse (besides an unknown key), with the path at fault. */
const REQUEST_REJECTS: Record<string, [Record<string, unknown>, string][]> = {
  'enroll-request': [
    [{}, '/user_id'],
    [{ user_id: '' }, '/user_id'],
    [{ user_id: 'u'.repeat(257) }, '/user_id'],
    [{ user_id: 'alice', issuer: 'i'.repeat(65) }, '/issuer'],
    [{ user_id: 'alice', ip: 'not an ip' }, '/ip'],
  ],
  'verify-request': [
    [{ user_id: 'alice' }, '/code'],
    [{ user_id: 'alice', code: '' }, '/code'],
    [{ user_id: 'alice', code: 'x'.repeat(65) }, '/code'],
    [{ user_id: 'alice', code: 123456 }, '/code'],
    [{ user_id: 'alice', code: '123456', challenge_id: 'has space' }, '/challenge_id'],
  ],
  'message-enroll-request': [
    [{ user_id: 'alice', channel: 'fax', address: '+331234567' }, '/channel'],
    [{ user_id: 'alice', channel: 'sms', address: '' }, '/address'],
    [{ user_id: 'alice', channel: 'sms', address: '1'.repeat(257) }, '/address'],
  ],
  'push-device-request': [
    [{ user_id: 'alice', device_id: 'has space', public_key: 'AAAA', name: 'x' }, '/device_id'],
    [{ user_id: 'alice', device_id: 'd', public_key: 'not base64!', name: 'x' }, '/public_key'],
    [{ user_id: 'alice', device_id: 'd', public_key: 'A'.repeat(1025), name: 'x' }, '/public_key'],
    [{ user_id: 'alice', device_id: 'd', public_key: 'AAAA', name: 'n'.repeat(65) }, '/name'],
  ],
  'push-respond-request': [
    [{ device_id: 'd', decision: 'approve', number: 100, signature: 'AAAA' }, '/number'],
    [{ device_id: 'd', decision: 'approve', number: 4.5, signature: 'AAAA' }, '/number'],
    [{ device_id: 'd', decision: 'maybe', number: 1, signature: 'AAAA' }, '/decision'],
    [{ device_id: 'd', decision: 'deny', number: 1, signature: 'A'.repeat(513) }, '/signature'],
  ],
  'recovery-request': [
    [{ user_id: 'alice', verified_by: 'bob', verification: '' }, '/verification'],
    [{ user_id: 'alice', verified_by: 'bob', verification: 'v'.repeat(1025) }, '/verification'],
    [{ user_id: 'alice', verified_by: 'b'.repeat(257), verification: 'ok' }, '/verified_by'],
  ],
};

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const v = new Validator();
    const res = await v.validate(structuredClone(doc));
    expect(res.errors).toBeUndefined();
    expect(res.valid).toBe(true);
    expect(v.version).toBe('3.1');
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('1.2.3');
  });

  it('the validator is not vacuous: a broken document fails', async () => {
    const broken = structuredClone(doc);
    broken.paths['/v1/decide'].post.responses = 'none';
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('is built once: the same (frozen) object for the same version', () => {
    expect(buildOpenApi({ version: '1.2.3' })).toBe(doc);
    expect(Object.isFrozen(doc.paths)).toBe(true);
    expect((buildOpenApi() as Doc).info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('lists every route with its method and path, and nothing else', () => {
    const documented: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const key of Object.keys(item)) {
        expect(HTTP_METHODS).toContain(key);
        documented.push(`${key} ${path}`);
      }
    }
    const routes = ALL_ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(routes).size).toBe(routes.length);
    expect(documented.sort()).toEqual([...routes].sort());
    // The MFA page too, not only the API (test/http-api.test.ts checks the list against what the app serves).
    expect(documented).toEqual(expect.arrayContaining(['get /mfa', 'post /mfa', 'get /mfa/style.css']));
    const ids = ALL_ROUTES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of ALL_ROUTES) expect(doc.paths[r.path][r.method].operationId).toBe(r.id);
  });

  it('describes each operation: tags, security and scope, body, parameters, responses', () => {
    const tagNames = (doc.tags as { name: string }[]).map((t) => t.name);
    expect(tagNames.sort()).toEqual(['admin', 'decide', 'gateway', 'health', 'mfa', 'portal', 'recovery', 'users']);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const r of ALL_ROUTES) {
      const op = doc.paths[r.path][r.method];
      expect(op.tags).toEqual([r.tag]);
      if (r.scope) {
        expect(op.security).toEqual([{ bearerAuth: [r.scope] }]);
        expect(op['x-required-scope']).toBe(r.scope);
        expect(op.description).toContain(`\`${r.scope}\` scope`);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      } else {
        expect(op.security).toEqual([]);
        expect(op['x-required-scope']).toBeUndefined();
      }
      if (r.request || r.emptyBody) {
        expect(op.requestBody).toMatchObject({
          required: r.emptyBody === undefined,
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${r.request ?? r.emptyBody}` } } },
        });
        expect(Object.keys(op.requestBody.content)).toEqual(['application/json']);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '413', '415']));
      } else if (r.form) {
        expect(Object.keys(op.requestBody.content)).toEqual(['application/x-www-form-urlencoded']);
      } else {
        expect(op.requestBody).toBeUndefined();
      }
      const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect((op.parameters ?? []).map((p: { name: string; in: string; required: boolean }) => [p.name, p.in, p.required])).toEqual([
        ...pathParams.map((n) => [n, 'path', true]),
        ...(r.query ?? []).map((q) => [q.name, 'query', q.required === true]),
      ]);
      expect(Object.keys(op.responses).map(Number).sort((a, b) => a - b)).toEqual([r.status, ...r.errors.map((e) => e.status)].sort((a, b) => a - b));
      for (const e of r.errors) {
        if (e.location) {
          expect(op.responses[String(e.status)].content).toBeUndefined();
          expect(op.responses[String(e.status)].headers.Location).toBeDefined();
          continue;
        }
        if (e.plain || e.html) {
          expect(Object.keys(op.responses[String(e.status)].content)).toEqual([e.plain ? 'text/plain' : 'text/html']);
          continue;
        }
        const content = op.responses[String(e.status)].content['application/json'];
        if (e.response) {
          expect(content.schema).toEqual({ $ref: `#/components/schemas/${e.response}` });
        } else {
          expect(content.schema.$ref).toBe('#/components/schemas/error');
          expect(content.schema.properties.error.enum).toEqual(e.codes);
        }
      }
      if (r.errors.some((e) => e.status === 429)) expect(op.responses['429'].headers['Retry-After']).toBeDefined();
    }
    expect(Object.keys(doc.paths['/metrics'].get.responses['200'].content)).toEqual(['text/plain']);
    // The gateway hook answers proxies: an empty 200, text bodies otherwise.
    expect(doc.paths['/v1/authz/forward-auth'].get.responses['200'].content).toBeUndefined();
    expect(Object.keys(doc.paths['/v1/authz/forward-auth'].get.responses)).toEqual(['200', '302', '401', '403']);
    expect(doc.paths['/readyz'].get.responses['503'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ready-response' });
  });

  it('says POST /v1/admin/users/{id}/unlock takes no body: optional, and only an empty object', () => {
    const body = doc.paths['/v1/admin/users/{id}/unlock'].post.requestBody;
    expect(body.required).toBe(false);
    expect(body.description).toMatch(/^No body: leave it out/);
    expect(doc.components.schemas['unlock-request']).toMatchObject({ type: 'object', additionalProperties: false, properties: {} });
    expect(docValidator('unlock-request')({})).toBe(true);
    for (const bad of [{ factor: 'totp' }, [], null, '']) expect(docValidator('unlock-request')(bad), JSON.stringify(bad)).toBe(false);
  });

  it('describes the MFA page: HTML, its query, its form, the 303 with Location', () => {
    const get = doc.paths['/mfa'].get;
    expect(get.tags).toEqual(['portal']);
    expect(get.security).toEqual([]);
    expect(Object.keys(get.responses['200'].content)).toEqual(['text/html']);
    expect(get.responses['200'].headers['Set-Cookie']).toBeDefined();
    expect(get.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(['query:rd', 'query:challenge']);
    expect(Object.keys(get.responses)).toEqual(['200', '400', '401', '403', '500']);
    expect(Object.keys(get.responses['401'].content)).toEqual(['text/html']);

    const post = doc.paths['/mfa'].post;
    expect(post.requestBody.required).toBe(true);
    const form = post.requestBody.content['application/x-www-form-urlencoded'].schema;
    expect(Object.keys(form.properties)).toEqual(['action', 'code', 'csrf', 'rd', 'challenge']);
    expect(form.required).toEqual(['action', 'code', 'csrf']);
    expect(form.properties.action.enum).toEqual(['verify', 'confirm']);
    for (const field of Object.values(form.properties as Record<string, { type: string; maxLength: number }>)) {
      expect(field.type).toBe('string');
      expect(field.maxLength).toBeGreaterThan(0);
    }
    expect(Object.keys(post.responses)).toEqual(['200', '303', '400', '401', '403', '409', '413', '423', '429', '500']);
    expect(Object.keys(post.responses['200'].content)).toEqual(['text/html']);
    expect(post.responses['303'].content).toBeUndefined();
    expect(post.responses['303'].headers.Location.schema).toEqual({ type: 'string', format: 'uri-reference' });
    expect(post.responses['303'].headers['Set-Cookie']).toBeDefined();
    expect(post.responses['429'].headers['Retry-After']).toBeDefined();
    // An unexpected failure answers the JSON envelope, as everywhere (the app's error handler).
    expect(post.responses['500'].content['application/json'].schema.$ref).toBe('#/components/schemas/error');
    expect(Object.keys(doc.paths['/mfa/style.css'].get.responses['200'].content)).toEqual(['text/css']);
  });

  it('every $ref resolves inside the document', () => {
    const refs = collectRefs(doc as Json, '#');
    expect(refs.length).toBeGreaterThan(50);
    for (const { at, ref } of refs) {
      expect(ref, `${ref} at ${at}`).toMatch(/^#\//);
      expect(resolvePointer(doc as Json, ref.slice(1)), `${ref} at ${at}`).toBeDefined();
    }
  });

  it('holds the schemas the routes reference, transitively, and no policy schema', () => {
    const names = Object.keys(doc.components.schemas);
    for (const n of NOT_API_SCHEMAS) expect(names).not.toContain(n);
    const referenced = new Set<string>();
    for (const { ref } of collectRefs(doc as Json, '#')) referenced.add(ref.split('/')[3]!);
    expect([...referenced].sort()).toEqual([...names].sort());
    // Every API schema file in schemas/ is used.
    const files = readdirSync(SCHEMA_DIR)
      .filter((f) => f.endsWith('.schema.json'))
      .map((f) => f.slice(0, -'.schema.json'.length))
      .filter((n) => !NOT_API_SCHEMAS.includes(n));
    expect(names.sort()).toEqual(files.sort());
    for (const schema of Object.values(doc.components.schemas as Record<string, Record<string, unknown>>)) {
      expect(schema.$schema).toBeUndefined();
    }
  });

  it('rewrites refs between files and within one', () => {
    expect(rewriteRef('context.schema.json#/properties/user', 'x')).toBe('#/components/schemas/context/properties/user');
    expect(rewriteRef('common.schema.json#/$defs/user_id', 'x')).toBe('#/components/schemas/common/$defs/user_id');
    expect(rewriteRef('recovery.schema.json', 'x')).toBe('#/components/schemas/recovery');
    expect(rewriteRef('#/$defs/reason', 'decision')).toBe('#/components/schemas/decision/$defs/reason');
    expect(() => rewriteRef('https://example.com/x.json', 'x')).toThrow(/unsupported/);
  });
});

describe('request schemas in the document', () => {
  const requests = [...new Set(ROUTES.flatMap((r) => [r.request, r.emptyBody].filter((x) => x !== undefined)))];

  it('has a sample for every request schema', () => {
    expect(Object.keys(REQUEST_SAMPLES).sort()).toEqual([...requests].sort());
  });

  for (const name of requests) {
    it(`${name}: compiles, accepts valid bodies, refuses an unknown key, as the served validator does`, () => {
      const v = docValidator(name);
      const served = validator(name);
      for (const sample of REQUEST_SAMPLES[name]!) {
        expect(v(sample), JSON.stringify(v.errors)).toBe(true);
        expect(served(sample)).toBe(true);
        const extra = { ...sample, unknown_key: 1 };
        expect(v(extra)).toBe(false);
        expect(v.errors).toContainEqual(expect.objectContaining({ keyword: 'additionalProperties', params: { additionalProperty: 'unknown_key' } }));
        expect(served(extra)).toBe(false);
      }
      for (const [body, path] of REQUEST_REJECTS[name] ?? []) {
        expect(v(body), JSON.stringify(body)).toBe(false);
        expect(v.errors!.some((e) => e.instancePath === path || (e.instancePath === '' && `/${String(e.params.missingProperty)}` === path))).toBe(true);
        expect(served(body)).toBe(false);
      }
    });
  }

  // ipv4 and date-time bound a string by their grammar (context.schema.json leaves those without maxLength).
  it('every string in the schemas has a maxLength, or a format that bounds it', () => {
    const unbounded: string[] = [];
    const walk = (node: Json, at: string) => {
      if (Array.isArray(node)) node.forEach((x, i) => walk(x, `${at}/${i}`));
      else if (node !== null && typeof node === 'object') {
        const types = Array.isArray(node.type) ? node.type : [node.type];
        if (types.includes('string') && node.maxLength === undefined && node.format !== 'ipv4' && node.format !== 'date-time') unbounded.push(at);
        for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`);
      }
    };
    for (const name of Object.keys(doc.components.schemas)) walk(doc.components.schemas[name], name);
    expect(unbounded).toEqual([]);
  });
});

describe('response schemas in the document', () => {
  const check = (name: string, body: unknown) => {
    const v = docValidator(name);
    expect(v(body), `${name}: ${JSON.stringify(v.errors)}`).toBe(true);
    expect(v({ ...(body as object), unknown_key: 1 })).toBe(false);
  };

  it('accept what the factor module produces', async () => {
    const secret = generateSecret();
    const otpauth_uri = buildUri({ issuer: 'ACME Co', account: 'alice@example.com', secret });
    check('enroll-response', { secret, otpauth_uri, qr: await qrCodes(otpauth_uri) });
    // The longest labels the request schema allows still make a QR code within the response's bounds.
    const longUri = buildUri({ issuer: '😀'.repeat(64), account: '😀'.repeat(128), secret });
    check('enroll-response', { secret, otpauth_uri: longUri, qr: await qrCodes(longUri) });
    check('confirm-response', { enrolled: true, backup_codes: generateBackupCodes(10) });
    check('backup-codes-response', { backup_codes: generateBackupCodes(100) });
    check('verify-response', { ok: true, factor: 'backup_code', backup_codes_remaining: 9, challenge_completed: false });
    check('verify-response', { ok: true, factor: 'message', backup_codes_remaining: 10, challenge_completed: true });
  });

  it('accept real decisions of the engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mfa-gate-openapi-'));
    const store = openSqliteStore({ path: join(dir, 'store.db') });
    try {
      const engine = new DecisionEngine({ store, policy: loadPolicy('policies/default.yaml') });
      const first = await engine.decide({ user: { id: 'alice' }, ip: '81.2.69.142', user_agent: CHROME, action: 'payment.refund' });
      expect(first.challenge_id).toBeDefined();
      check('decision', first);
      check('decision', await engine.decide({ user: { id: 'bob', mfa_required_since: T }, ip: null, user_agent: '' }));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accept the documented shapes of the other answers', () => {
    const recovery = {
      id: '3f1c2b9e-7d4a-4c1e-9b8f-0a1b2c3d4e5f',
      user_id: 'alice',
      verified_by: 'admin-bob',
      verification: 'passport checked in person',
      opened_at: T,
      effective_at: T,
      cancelled_at: null,
      applied_at: null,
    };
    check('recovery', recovery);
    check('user-mfa-response', {
      user_id: 'alice',
      enrolled: true,
      enrolled_at: T,
      totp: { active: true, pending: false },
      message_destination: { channel: 'sms', to: '+•••••••••••78', confirmed_at: T },
      push_devices: [{ device_id: 'alice-phone', name: "Alice's phone", created_at: T }],
      backup_codes_remaining: 10,
      known_devices: [{ key: 'ua-0123456789abcdef', first_seen: T, last_seen: T, last_mfa_at: null }],
      known_locations: [{ key: 'GB/ENG/London', first_seen: T, last_seen: T }],
      pending_recoveries: [recovery],
      locked: { totp: false, backup_code: true },
    });
    check('user-mfa-response', {
      user_id: 'bob',
      enrolled: false,
      enrolled_at: null,
      totp: { active: false, pending: false },
      message_destination: null,
      push_devices: [],
      backup_codes_remaining: 0,
      known_devices: [],
      known_locations: [],
      pending_recoveries: [],
      locked: { totp: false, backup_code: false },
    });
    check('message-enroll-response', { pending: true, channel: 'email', to: 'a•••@example.com', expires_at: T });
    check('message-confirm-response', { enrolled: true, channel: 'email', to: 'a•••@example.com', backup_codes: generateBackupCodes(10) });
    check('message-confirm-response', { enrolled: true, channel: 'chat', to: 'al•••' });
    check('message-send-response', { sent: true, channel: 'sms', to: '+•••••••••42', expires_at: T });
    check('push-device-response', { registered: true, device_id: 'alice-phone' });
    check('push-device-response', { registered: true, device_id: 'alice-phone', backup_codes: generateBackupCodes(10) });
    const pushId = '3f1c2b9e-7d4a-4c1e-9b8f-0a1b2c3d4e5f';
    check('push-start-response', { id: pushId, number: 42, expires_at: T, device: { device_id: 'alice-phone', name: "Alice's phone" } });
    check('push-respond-response', { status: 'denied', challenge_completed: false });
    check('push-status-response', { id: pushId, status: 'expired', expires_at: T, challenge_completed: false });
    check('device-deleted-response', { deleted: true });
    check('unlock-response', { unlocked: true, cleared: 2 });
    check('approve-enrollment-response', { approved: true, expires_at: T });
    check('health-response', { status: 'ok', policy: { version: 'a'.repeat(64) } });
    check('ready-response', { status: 'ready', checks: { store: { ok: true }, policy: { ok: true, version: 'v1' } } });
    check('ready-response', { status: 'not_ready', checks: { store: { ok: false, error: 'connection refused' }, policy: { ok: false, version: 'v1', error: 'p.yaml:1:1 bad' } } });
    check('error', { error: 'validation_failed', message: 'the body does not match', details: [{ path: '/user/id', message: 'is required' }] });
    check('error', { error: 'too_many_attempts', message: 'wait', details: [], retry_after_s: 30 });
    check('error', { error: 'invalid_code', message: 'no', details: [], attempts_remaining: 4 });
    check('error', { error: 'internal_error', message: 'unexpected', details: [{ request_id: 'r-1' }] });
    check('error', { error: 'forbidden', message: 'lacks scope', details: [{ required_scope: 'admin' }] });
    expect(docValidator('error')({ error: 'Not-Snake', message: '', details: [] })).toBe(false);
  });

  it("narrow each error response to the codes of its status on that route", () => {
    const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
    for (const r of ALL_ROUTES) {
      for (const e of r.errors) {
        if (e.response || e.plain || e.html || e.location) continue;
        const v = ajv.compile({
          $ref: `${DOC_ID}#/paths/${pointer(r.path)}/${r.method}/responses/${e.status}/content/${pointer('application/json')}/schema`,
        });
        for (const code of e.codes) expect(v({ error: code, message: 'm', details: [] }), `${r.id} ${code}`).toBe(true);
        expect(v({ error: 'some_other_code', message: 'm', details: [] })).toBe(false);
        expect(v({ error: e.codes[0], message: 'm', details: [], extra: 1 })).toBe(false);
      }
    }
  });
});

describe('STATUS_BY_ERROR', () => {
  it('covers every ErrorCode, with the status MfaGateError answers', () => {
    for (const code of Object.values(ErrorCode)) {
      expect(STATUS_BY_ERROR[code], code).toBe(new MfaGateError(code, 'x').status);
    }
  });

  it('covers every FactorErrorCode outcome, and none of the exceptions', () => {
    for (const code of Object.values(FactorErrorCode)) {
      if ((FACTOR_EXCEPTION_CODES as readonly string[]).includes(code)) {
        expect(STATUS_BY_ERROR[code], code).toBeUndefined();
        expect(statusOf(code)).toBe(500);
      } else if (code === FactorErrorCode.SENDER_UNAVAILABLE) {
        // The one outcome that is not the caller's doing: the operator's sender is missing or down (try again later).
        expect(STATUS_BY_ERROR[code], code).toBe(503);
      } else {
        expect(STATUS_BY_ERROR[code], code).toBeGreaterThanOrEqual(400);
        expect(STATUS_BY_ERROR[code], code).toBeLessThan(500);
      }
    }
    expect(STATUS_BY_ERROR).toMatchObject({
      invalid_code: 401,
      too_many_attempts: 429,
      factor_locked: 423,
      not_enrolled: 409,
      no_pending_enrollment: 409,
      factor_required: 403,
      enrollment_not_allowed: 403,
      invalid_challenge: 400,
      recovery_disabled: 403,
      recovery_not_found: 404,
      user_not_found: 404,
      factor_disabled: 403,
      factor_not_allowed: 403,
      invalid_destination: 400,
      too_many_sends: 429,
      invalid_public_key: 400,
      invalid_signature: 401,
      push_not_found: 404,
      push_not_pending: 409,
      push_device_not_found: 404,
      invalid_account: 400,
      invalid_issuer: 400,
      forbidden: 403,
      unauthorized: 401,
    });
    for (const code of Object.values(HttpErrorCode)) expect(STATUS_BY_ERROR[code]).toBeDefined();
  });

  it('holds every code the routes document, at the documented status, and only known codes', () => {
    const known = new Set<string>([...Object.values(ErrorCode), ...Object.values(FactorErrorCode), ...Object.values(HttpErrorCode)]);
    for (const code of Object.keys(STATUS_BY_ERROR)) expect(known.has(code), code).toBe(true);
    for (const r of ALL_ROUTES) {
      for (const e of r.errors) for (const code of e.codes) expect(STATUS_BY_ERROR[code], `${r.id} ${code}`).toBe(e.status);
    }
    expect(statusOf('__proto__')).toBe(500);
    expect(statusOf('nope')).toBe(500);
  });
});

describe('route table helpers', () => {
  it('honoPath turns {param} into :param', () => {
    expect(honoPath('/v1/users/{id}/devices/{key}')).toBe('/v1/users/:id/devices/:key');
    expect(honoPath('/healthz')).toBe('/healthz');
  });
});
