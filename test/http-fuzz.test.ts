// Issue #4, acceptance: a fuzz test sends at least 2,000 generated malformed or hostile bodies to each endpoint
// that reads a JSON body (every POST or DELETE route of ROUTES with a request schema, so a new route is fuzzed
// without touching this file): wrong types, huge strings, deep nesting, unicode, prototype-pollution keys,
// odd numbers, invalid JSON, wrong content types, empty bodies. Every answer must be the 4xx the contract
// names (413 over 16 KiB, 415 for a wrong content type, 400 malformed_json, 400 validation_failed) in the one
// error envelope; nothing may reach the 500 handler; the store (every table, read through a second
// connection) and Object.prototype must be unchanged; and a real listening server must still answer after
// hostile bodies, oversized chunked uploads among them.
//
// Only bodies the request schema REFUSES are sent (each generated body is checked with the same ajv validator
// the service uses, and a valid one is skipped): a valid body may legitimately succeed and change the store
// (a decide records a first-seen user, a wrong code on a valid-shaped body counts a failure). The exception
// is prototype-pollution keys in closed objects, which are sent whatever: the schemas must refuse them.
// Bodies over the limit are sent valid or not: 413 comes before parsing.
//
// Valid bodies with hostile content (pollution keys in open objects, deep nesting, lone surrogates) go to a
// second service, whose store may change: they may succeed but never reach the 500 handler, and an id must
// name one user (a lone surrogate did not, see the last tests).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../src/http/body.js';
import { ROUTES, type Route } from '../src/http/route-table.js';
import { SCHEMA_DIR, validator } from '../src/schemas.js';
import { KEYS, startService, type TestService } from './helpers/app.js';
import { fresh } from './helpers/serve.js';

/** Bodies per endpoint (the acceptance asks for at least 2,000); MFA_GATE_FUZZ_RUNS raises it for a long soak. */
const RUNS = Math.max(2000, Number(process.env.MFA_GATE_FUZZ_RUNS) || 0);
/** A fixed seed unless MFA_GATE_FUZZ_SEED is set, so CI failures reproduce; fast-check prints the seed on failure. */
const SEED = process.env.MFA_GATE_FUZZ_SEED !== undefined ? Number(process.env.MFA_GATE_FUZZ_SEED) : 0x4d4641;

// --- the routes under test, from ROUTES ---

const BODY_ROUTES = ROUTES.filter((r) => r.request !== undefined && (r.method === 'post' || r.method === 'delete'));
const BODYLESS_POSTS = ROUTES.filter((r) => r.method === 'post' && r.request === undefined);

interface RouteInfo {
  route: Route;
  schema: string;
  /** Top-level property names of the request schema. */
  props: string[];
  required: string[];
  /** A small valid body (found by search, see validExample), the base the one-step mutations start from. */
  example: Record<string, unknown>;
  /** Whether `body` (as JSON text, decoded as the server decodes it) would pass the request schema. */
  valid: (text: string) => boolean;
}

function schemaJson(name: string): {
  properties?: Record<string, { type?: unknown; $ref?: string }>;
  required?: string[];
  additionalProperties?: unknown;
  examples?: unknown[];
} {
  return JSON.parse(readFileSync(new URL(`${name}.schema.json`, SCHEMA_DIR), 'utf8'));
}

/** Plausible values for a required property; the first combination the schema accepts is the example (unless the
 * schema's own `examples` hold a valid one: an enum or a number no candidate fits). */
const CANDIDATES: unknown[] = ['alice', '123456', { id: 'alice' }, 'ops-admin', true];

function validExample(name: string, required: string[]): Record<string, unknown> | null {
  const validate = validator(name);
  const given = (schemaJson(name).examples ?? []).find((x) => validate(x));
  if (given !== undefined) return given as Record<string, unknown>;
  const combos = (i: number): Record<string, unknown>[] =>
    i === required.length ? [{}] : combos(i + 1).flatMap((rest) => CANDIDATES.map((v) => ({ [required[i]!]: v, ...rest })));
  return combos(0).find((body) => validate(body)) ?? null;
}

function routeInfo(route: Route): RouteInfo {
  const schema = route.request!;
  const json = schemaJson(schema);
  const required = json.required ?? [];
  const validate = validator(schema);
  return {
    route,
    schema,
    props: Object.keys(json.properties ?? {}),
    required,
    example: validExample(schema, required) ?? {},
    valid: (text) => {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return false;
      }
      return validate(body) === true;
    },
  };
}

// --- a generated request ---

interface Case {
  family: string;
  /** null: no body at all. A string goes out UTF-8 encoded (a lone surrogate becomes U+FFFD on the wire). */
  body: string | Uint8Array | null;
  /** null: no Content-Type header. */
  contentType: string | null;
  /** Sent even if the schema accepts it: the schema must refuse it (prototype-pollution keys in closed objects). */
  mustRefuse?: boolean;
}

const JSON_TYPE = 'application/json';
/** Spellings the service must accept as JSON. */
const JSON_TYPES = [JSON_TYPE, 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8', 'application/json ; q=1'];
/** Content types that are not JSON: 415 (the header itself stays legal, or the Request constructor would throw). */
const WRONG_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'text/json',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----fuzz',
  'application/jsonp',
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/ld+json',
  'application/problem+json',
  'application/xml',
  'application/octet-stream',
  'application/x-json',
  'application/jsonx; charset=utf-8',
  'application',
  'json',
  '*/*',
  'application/*',
  'x/application/json',
  'application/ json',
];

const encoder = new TextEncoder();
const bytesOf = (body: string | Uint8Array): Uint8Array => (typeof body === 'string' ? encoder.encode(body) : body);

type Expected = { status: number; error: string } | { status: 'any4xx' } | 'valid';

/** The body as the service reads it: Request.text(), i.e. undici's UTF-8 decoding (invalid bytes become U+FFFD; on
 * Node 20 it drops up to two leading BOMs, so `\uFEFF\uFEFF{...}` counts as JSON: mirrored, not judged, here). */
const serverText = (bytes: Uint8Array) => new Response(bytes).text();

/** What the contract says the answer is: 413 over the limit, 415 for a wrong type, 400 for bad JSON or schema. */
async function expected(info: RouteInfo, c: Case): Promise<Expected> {
  const bytes = c.body === null ? null : bytesOf(c.body);
  if (bytes !== null && bytes.length > MAX_BODY_BYTES) return { status: 413, error: 'payload_too_large' };
  if (c.contentType === null || WRONG_TYPES.includes(c.contentType)) return { status: 415, error: 'unsupported_media_type' };
  if (!JSON_TYPES.includes(c.contentType)) return { status: 'any4xx' };
  const text = bytes === null ? '' : await serverText(bytes);
  try {
    JSON.parse(text);
  } catch {
    return { status: 400, error: 'malformed_json' };
  }
  return info.valid(text) ? 'valid' : { status: 400, error: 'validation_failed' };
}

// --- raw JSON text helpers: object literals would drop `__proto__`, and JSON.stringify cannot write 1e309 ---

type Pair = [key: string, value: string]; // both already JSON text
const obj = (pairs: Pair[]) => `{${pairs.map(([k, v]) => `${k}:${v}`).join(',')}}`;
const pairsOf = (o: Record<string, unknown>): Pair[] => Object.entries(o).map(([k, v]) => [JSON.stringify(k), JSON.stringify(v)]);
const q = (s: string) => JSON.stringify(s);
const replace = (pairs: Pair[], key: string, value: string): Pair[] => [...pairs.filter(([k]) => k !== q(key)), [q(key), value]];

/** Deeply nested JSON text (never built as a value: stringifying one could overflow the stack). */
function deep(kind: 'array' | 'object' | 'proto' | 'mixed', depth: number, leaf = '0'): string {
  switch (kind) {
    case 'array':
      return '['.repeat(depth) + leaf + ']'.repeat(depth);
    case 'object':
      return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
    case 'proto':
      return '{"__proto__":'.repeat(depth) + leaf + '}'.repeat(depth);
    case 'mixed':
      return '[{"x":'.repeat(depth) + leaf + '}]'.repeat(depth);
  }
}

/** Number literals JSON.stringify cannot produce, or that lose meaning in a double. */
const ODD_NUMBERS = [
  '1e309', '-1e309', '1E400', '-0', '-0.0', '0e0', '1e-400', '5e-324', '1.7976931348623157e308',
  '9007199254740993', '-9007199254740993', '123456789012345678901234567890123456789', '0.1e1', '1' + '0'.repeat(400),
];
/** Raw JSON string literals: escaped lone surrogates, NUL, bidi overrides, BOM, zero-width, combining marks, RTL. */
const HOSTILE_STRINGS = [
  '"\\ud800"', '"\\udfff"', '"\\udc00\\ud800"', '"a\\ud83db"', '"\\uD83D\\uDE00"', '"\\u0000"', '"al\\u0000ice"',
  '"\\u202eecila"', '"\\u2066x\\u2069"', '"\\ufeff"', '"\\u200b"', '"\\u0085"', '"\\u2028\\u2029"', '"e\\u0301\\u0301\\u0301"',
  '"مرحبا"', '"שלום"', '"\u202e\u0000raw"', '"𝕏𝕐ℤ"', '"Ｚ"', '"\\u005f\\u005fproto\\u005f\\u005f"', '"constructor"', '"__proto__"',
  '"../../etc/passwd"', '"\' OR 1=1 --"', '"%00%ff"', '"${7*7}"', '"<script>"', '"\\\\"',
];
/** Keys that touch prototypes when a body is merged into an object carelessly; the middle one is `__proto__` escaped. */
const POLLUTION_KEYS = [
  '"__proto__"', '"\\u005f\\u005fproto\\u005f\\u005f"', '"constructor"', '"prototype"', '"__defineGetter__"', '"hasOwnProperty"',
  '"toString"', '"valueOf"', '"isPrototypeOf"', '"__lookupGetter__"',
];
/** Property names the payloads set, checked on Object.prototype afterwards. */
const POLLUTED = ['polluted', 'isAdmin', 'admin', 'scopes', 'enrolled', 'allowed_now', 'ok', 'status'];
const POLLUTION_PAYLOADS = [
  '{"polluted":"yes"}', '{"isAdmin":true,"admin":true}', '{"prototype":{"polluted":1}}', '{"scopes":["admin"],"ok":true}',
  '{"__proto__":{"polluted":2}}', '{"constructor":{"prototype":{"enrolled":true,"allowed_now":true}}}', '{"status":200}', 'null', '[]', '1',
];
const MALFORMED = [
  '', ' ', '\n\t\r ', '{', '}', '[', '{"', '{"a"', '{"a":', '{"a":1', '{"a":1,}', '[1,]', '{,}', '{"a":1,,"b":2}', "{'a':1}", '{a:1}',
  '{"a":undefined}', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', '{"a":0x10}', '{"a":01}', '{"a":+1}', '{"a":.5}', '{"a":1.}',
  '{"a":"\\x41"}', '{"a":"\\u12"}', '{"a":"\\"}', '{"a":"\u0001"}', '{"a":"line\nbreak"}', '{} {}', '{}x', '{"a":1}/* c */', '// c\n{}',
  'nul', 'tru', 'True', 'None', '\uFEFF\uFEFF{}', '\u0000{}', '{}\u0000', '\u00a0{}', '{"a":1}\u2028', 'undefined', '()', '<json/>',
  '{"a" 1}', '{"a"::1}', '["a" "b"]', '"unterminated', '\\u007b}',
];
/** Bytes that are not UTF-8 (they decode to U+FFFD): overlong, CESU-8 surrogates, stray continuation, 0xFF. */
const BAD_UTF8: number[][] = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xfe, 0xff], [0xef, 0xbb, 0xbf]];

// --- arbitraries ---

const jsonText = fc.json({ maxDepth: 4 });
const wrongValue: fc.Arbitrary<string> = fc.oneof(
  fc.integer().map(String),
  fc.double().map((d) => JSON.stringify(d)),
  fc.constantFrom(...ODD_NUMBERS),
  fc.boolean().map(String),
  fc.constant('null'),
  fc.constant('""'),
  fc.constant('{}'),
  fc.constant('[]'),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }).map((v) => JSON.stringify(v)),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', minLength: 129, maxLength: 3000 }).map(q),
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.integer({ min: 1, max: 40 }).map((n) => deep('array', n)),
);
const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.string({ unit: 'binary', maxLength: 40 }).map(q),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map(q),
  // unescaped control characters and lone surrogates straight in the text (the latter reach the wire as U+FFFD)
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `"${s.replace(/["\\]/g, '')}"`),
);
const wrongType = fc.constantFrom(...WRONG_TYPES);
const jsonType = fc.constantFrom(...JSON_TYPES);
const anyType = fc.oneof({ arbitrary: jsonType, weight: 5 }, { arbitrary: wrongType, weight: 1 });

function arbitrariesFor(info: RouteInfo): fc.Arbitrary<Case> {
  const base = pairsOf(info.example);
  const props = info.props.length > 0 ? info.props : ['x'];
  const prop = fc.constantFrom(...props);
  const unknownKey = fc
    .oneof(fc.string({ maxLength: 12 }), fc.constantFrom('admin', 'id', 'user', 'userId', 'USER_ID', 'code ', ' code', 'scopes', ''))
    .filter((k) => !info.props.includes(k))
    .map(q);
  const objectProps = Object.entries(info.example).filter(([, v]) => typeof v === 'object' && v !== null && !Array.isArray(v)).map(([k]) => k);
  const withType = (ct: fc.Arbitrary<string>) => (body: string): fc.Arbitrary<Case> => ct.map((contentType) => ({ family: '', body, contentType }));
  const text = (family: string, body: fc.Arbitrary<string>, ct: fc.Arbitrary<string> = jsonType): fc.Arbitrary<Case> =>
    body.chain(withType(ct)).map((c) => ({ ...c, family }));

  const families: fc.WeightedArbitrary<Case>[] = [
    // arbitrary JSON values and arbitrary JS values written as text (mostly not JSON)
    { weight: 3, arbitrary: text('json-value', jsonText) },
    {
      weight: 2,
      arbitrary: text(
        'anything',
        fc
          .anything({
            withBigInt: true, withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true,
            withDate: true, withTypedArray: true, withSparseArray: true, withObjectString: true,
          })
          .chain((v) =>
            fc.constantFrom(fc.stringify(v), JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'undefined'),
          ),
      ),
    },
    // the right keys with wrong types (some keys missing, some odd number literals)
    {
      weight: 4,
      arbitrary: text(
        'wrong-types',
        fc.uniqueArray(fc.tuple(prop, wrongValue), { selector: ([k]) => k, maxLength: props.length }).map((kv) => obj(kv.map(([k, v]) => [q(k), v]))),
      ),
    },
    // one step from a valid body: a wrong value, a missing required key, an unknown key
    { weight: 4, arbitrary: text('mutation/wrong-value', fc.tuple(prop, wrongValue).map(([k, v]) => obj(replace(base, k, v)))) },
    ...(info.required.length === 0 ? [] : [{
      weight: 1,
      arbitrary: text(
        'mutation/missing-key',
        fc.subarray(info.required, { minLength: 1 }).map((drop) => obj(base.filter(([k]) => !drop.map(q).includes(k)))),
      ),
    }]),
    { weight: 3, arbitrary: text('mutation/unknown-key', fc.tuple(unknownKey, fc.oneof(wrongValue, hostileString)).map(([k, v]) => obj([...base, [k, v]]))) },
    // unicode: hostile strings as values, as unknown keys, as the whole body
    {
      weight: 3,
      arbitrary: text(
        'unicode/value',
        fc.tuple(prop, hostileString, fc.boolean()).map(([k, v, extra]) => obj([...replace(base, k, v), ...(extra ? ([[v, '1']] as Pair[]) : [])])),
      ),
    },
    { weight: 2, arbitrary: text('unicode/key', fc.tuple(hostileString, wrongValue).map(([k, v]) => obj([...base, [k, v]]))) },
    { weight: 1, arbitrary: text('unicode/text', fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 200 }))) },
    // numbers JSON.stringify cannot write, in every position
    {
      weight: 2,
      arbitrary: text('numbers', fc.tuple(prop, fc.constantFrom(...ODD_NUMBERS), fc.boolean()).map(([k, n, top]) => (top ? n : obj(replace(base, k, n))))),
    },
    // invalid JSON: truncations of a valid body, and a catalogue of near-JSON
    {
      weight: 3,
      arbitrary: text(
        'malformed',
        fc.oneof(
          fc.constantFrom(...MALFORMED),
          fc.nat().map((n) => obj(base).slice(0, n % obj(base).length)),
          fc.tuple(fc.nat(), fc.constantFrom(',', '}', '{', ']', '"', ':', '\\', ',}', '/*')).map(([n, s]) => {
            const t = obj(base);
            const i = n % (t.length + 1);
            return t.slice(0, i) + s + t.slice(i);
          }),
          fc.constantFrom(
            `${obj(base).slice(0, -1)},}`,
            `\uFEFF\uFEFF${obj(base)}`,
            `${obj(base)},`,
            `[${obj(base)}]`,
            `${obj(base)}${obj(base)}`,
            obj(base).replace(/"/g, "'"),
          ),
        ),
      ),
    },
    // invalid UTF-8 bytes spliced into a body
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...BAD_UTF8), fc.nat(), fc.boolean(), jsonType).map(([bad, n, inKey, contentType]) => {
        const t = inKey ? obj([...base, ['"k\u0001"', '1']]) : obj(base);
        const at = n % (t.length + 1);
        const b = encoder.encode(t);
        const cut = encoder.encode(t.slice(0, at)).length;
        return { family: 'bad-utf8', body: new Uint8Array([...b.subarray(0, cut), ...bad, ...b.subarray(cut)]), contentType };
      }),
    },
    // deep nesting, 1,000 levels and more (up to what fits in 16 KiB), alone, in a field, unbalanced
    {
      weight: 3,
      arbitrary: text(
        'deep',
        fc
          .tuple(
            fc.constantFrom<'array' | 'object' | 'proto' | 'mixed'>('array', 'object', 'proto', 'mixed'),
            fc.integer({ min: 1000, max: 8000 }),
            fc.constantFrom('top', 'field', 'unbalanced', 'unknown-key'),
            prop,
          )
          .map(([kind, n, where, k]) => {
            const per = kind === 'array' ? 2 : kind === 'object' ? 6 : kind === 'mixed' ? 8 : 15;
            const depth = Math.max(1000, Math.min(n, Math.floor((MAX_BODY_BYTES - 200) / per)));
            if (where === 'top') return deep(kind, depth);
            if (where === 'unbalanced') return deep(kind, depth).slice(0, -1 - (n % depth));
            if (where === 'field') return obj(replace(base, k, deep(kind, depth)));
            return obj([...base, ['"nest"', deep(kind, depth)]]);
          }),
      ),
    },
    // prototype-pollution keys at the top level, in nested closed objects, escaped, duplicated; refused whatever
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...POLLUTION_KEYS),
          fc.constantFrom(...POLLUTION_PAYLOADS),
          fc.constantFrom('top', 'only', 'nested', 'twice', 'value'),
          prop,
          jsonType,
        )
        .map(([key, payload, where, k, contentType]): Case => {
          let body: string;
          let mustRefuse = true;
          if (where === 'only') body = obj([[key, payload]]);
          else if (where === 'twice') body = obj([[key, payload], ...base, [key, payload]]);
          else if (where === 'nested' && objectProps.length > 0) {
            const o = objectProps[k.length % objectProps.length]!;
            body = obj(replace(base, o, obj([...pairsOf(info.example[o] as Record<string, unknown>), [key, payload]])));
          } else if (where === 'value') {
            // a pollution object where a scalar belongs (wrong type anyway), or in an open object: not must-refuse
            body = obj(replace(base, k, obj([[key, payload]])));
            mustRefuse = false;
          } else body = obj([...base, [key, payload]]);
          return { family: `pollution/${where}`, body, contentType, mustRefuse };
        }),
    },
    // huge: strings up to and past the limit, multi-byte text whose UTF-16 length fits but bytes do not, padding
    {
      weight: 3,
      arbitrary: text(
        'huge',
        fc.tuple(
          fc.integer({ min: MAX_BODY_BYTES - 256, max: 4 * MAX_BODY_BYTES }),
          fc.constantFrom('a', 'é', '€', '😀', '\\u0000', ' '),
          prop,
          fc.boolean(),
        ).map(([n, ch, k, asKey]) => {
          const unit = ch === '\\u0000' ? 6 : encoder.encode(ch).length;
          const s = `"${ch.repeat(Math.ceil(n / unit))}"`;
          if (ch === ' ') return obj(base) + ' '.repeat(n); // a VALID body padded past the limit: still 413
          return asKey ? obj([...base, [s, '1']]) : obj(replace(base, k, s));
        }),
        anyType,
      ),
    },
    // around the limit exactly: an unknown padded key making the body limit-1, limit, limit+1 bytes
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: -2, max: 2 }), anyType).map(([delta, contentType]) => {
        const head = obj([...base, ['"pad"', '""']]);
        const pad = 'x'.repeat(MAX_BODY_BYTES + delta - encoder.encode(head).length);
        return { family: 'limit', body: obj([...base, ['"pad"', q(pad)]]), contentType };
      }),
    },
    // wrong or missing content types on valid and invalid bodies; an empty or absent body
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.oneof(fc.constant(obj(base)), jsonText), fc.option(wrongType))
        .map(([body, contentType]) => ({ family: 'content-type', body, contentType })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom<string | null>(null, '', ' ', '\r\n'), fc.option(jsonType))
        .map(([body, contentType]) => ({ family: 'empty', body, contentType })),
    },
  ];
  return fc.oneof(...families);
}

// --- the store, read through a second read-only connection ---

type Snapshot = Record<string, unknown[]>;

function snapshot(dbPath: string): Snapshot {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name")
      .pluck()
      .all() as string[];
    const out: Snapshot = {};
    for (const t of tables) {
      const id = `"${t.replace(/"/g, '""')}"`;
      const columns = (db.prepare(`SELECT count(*) FROM pragma_table_info(?)`).pluck().get(t) as number) || 1;
      const order = Array.from({ length: columns }, (_, i) => i + 1).join(', ');
      out[t] = db.prepare(`SELECT * FROM ${id} ORDER BY ${order}`).all();
    }
    return out;
  } finally {
    db.close();
  }
}

// --- one service for the whole file ---

let service: TestService;
let recoveryId: string = randomUUID();
let before: Snapshot;
let prototypeNames: { object: string[]; array: string[]; fn: string[] };
const counts = new Map<string, { sent: number; skipped: number; byStatus: Record<number, number>; byFamily: Record<string, number> }>();
const errorEnvelope = validator('error');

/** Path params filled with plausible values: users that exist, the open recovery request. */
function pathOf(route: Route): string {
  return route.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const ref = route.params?.find((p) => p.name === name)?.schema ?? '';
    const def = ref.slice(ref.lastIndexOf('/') + 1);
    const value = def === 'user_id' ? 'alice' : def === 'recovery_id' ? recoveryId : def === 'device_key' ? 'device-1' : randomUUID();
    return encodeURIComponent(value);
  });
}

function requestInit(route: Route, c: Case): RequestInit {
  const headers: Record<string, string> = { authorization: `Bearer ${KEYS.all}` };
  if (c.contentType !== null) headers['content-type'] = c.contentType;
  return { method: route.method.toUpperCase(), headers, ...(c.body !== null ? { body: c.body } : {}) };
}

const flushed = async () => {
  await service.store.ping(); // commits the write-behind queue, so the second connection sees every write
  return snapshot(service.dbPath);
};

beforeAll(async () => {
  prototypeNames = {
    object: Object.getOwnPropertyNames(Object.prototype).sort(),
    array: Object.getOwnPropertyNames(Array.prototype).sort(),
    fn: Object.getOwnPropertyNames(Function.prototype).sort(),
  };
  service = startService();
  // Rows in every table the fuzzed routes could touch: users, devices, locations, challenges, a pending
  // enrollment, an open recovery request, an approval.
  const call = (method: string, path: string, body: unknown) =>
    service.app.request(path, { method, headers: { authorization: `Bearer ${KEYS.all}`, 'content-type': JSON_TYPE }, body: JSON.stringify(body) });
  for (const [id, ip] of [['alice', '81.2.69.142'], ['bob', '2a00:1450:4001:81b::200e'], ['carol', null]] as const) {
    const res = await call('POST', '/v1/decide', { user: { id }, ip, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', action: 'login' });
    expect(res.status).toBe(200);
  }
  await call('POST', '/v1/admin/users/bob/approve-enrollment', { approved_by: 'ops-admin' });
  await call('POST', '/v1/mfa/totp/enroll', { user_id: 'bob' });
  const rec = await call('POST', '/v1/recovery', { user_id: 'alice', verified_by: 'ops-admin', verification: 'badge checked' });
  if (rec.status === 201) recoveryId = ((await rec.json()) as { id: string }).id;
  before = await flushed();
});

afterAll(async () => {
  await service?.close();
  const lines = [...counts].map(
    ([name, c]) =>
      `${name.padEnd(44)} sent ${c.sent} (skipped valid: ${c.skipped}) statuses ${JSON.stringify(c.byStatus)}` +
      (Object.keys(c.byFamily).length > 0 ? `\n${' '.repeat(45)}families ${JSON.stringify(c.byFamily)}` : ''),
  );
  if (lines.length > 0) console.log(`http fuzz, seed ${SEED}:\n${lines.join('\n')}`);
});

describe('the fuzzed routes', () => {
  it('are every JSON-body route in ROUTES, each with a valid example whose schema is closed', () => {
    expect(BODY_ROUTES.length).toBeGreaterThanOrEqual(8);
    for (const r of BODY_ROUTES) {
      const json = schemaJson(r.request!);
      // Mutations are one step from a valid body; a request schema without a findable example needs a
      // candidate in CANDIDATES or a valid entry in its `examples` (else the "one step from valid" families
      // lose their meaning for it).
      expect(validExample(r.request!, json.required ?? []), `${r.id}: no valid example in the schema's examples or from CANDIDATES`).not.toBeNull();
      expect(json.additionalProperties, `${r.id}: request schema must be closed`).toBe(false);
    }
    expect(recoveryId).toMatch(/\S/);
    expect(Object.values(before).some((rows) => rows.length > 0)).toBe(true);
  });
});

describe.each(BODY_ROUTES.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))('%s', (name, route) => {
  it(
    `answers ${RUNS} hostile bodies with the contract's 4xx, nothing reaches the 500 handler, the store is unchanged`,
    async () => {
      const info = routeInfo(route);
      const path = pathOf(route);
      const stats = { sent: 0, skipped: 0, byStatus: {} as Record<number, number>, byFamily: {} as Record<string, number> };
      counts.set(name, stats);
      const decisions = service.decisions.length;
      const audit = service.audit.length;
      await fc.assert(
        fc.asyncProperty(arbitrariesFor(info), async (c) => {
          const want = await expected(info, c);
          if (want === 'valid' && !c.mustRefuse) {
            stats.skipped++;
            fc.pre(false);
          }
          const res = await service.app.request(path, requestInit(route, c));
          stats.sent++;
          stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
          stats.byFamily[c.family.split('/')[0]!] = (stats.byFamily[c.family.split('/')[0]!] ?? 0) + 1;
          const text = await res.text();
          const where = `${c.family}: ${res.status} ${text.slice(0, 300)}`;
          expect(service.unexpected, where).toEqual([]);
          expect(res.status, where).toBeGreaterThanOrEqual(400);
          expect(res.status, where).toBeLessThan(500);
          expect(res.headers.get('content-type') ?? '', where).toMatch(/^application\/json/);
          const err = JSON.parse(text) as { error: string };
          expect(errorEnvelope(err), `${where}: not the error envelope`).toBe(true);
          if (want !== 'valid' && typeof want.status === 'number') {
            expect({ status: res.status, error: err.error }, where).toEqual(want);
          }
        }),
        { numRuns: RUNS, seed: SEED, maxSkipsPerRun: 1000, endOnFailure: true },
      );
      expect(stats.sent).toBeGreaterThanOrEqual(RUNS);
      expect(service.decisions.length, 'a decision was made').toBe(decisions);
      expect(service.audit.slice(audit), 'a factor event was recorded').toEqual([]);
      expect(await flushed()).toEqual(before);
    },
    120_000,
  );
});

describe('POST routes without a body', () => {
  it.each(BODYLESS_POSTS.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))(
    '%s answers an empty body (or {}) as none, refuses any other body with a 4xx (413 over the limit), never a 5xx',
    async (name, route) => {
      const path = pathOf(route);
      const plain = await service.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${KEYS.all}` } });
      const baseline = plain.status;
      const stats = { sent: 0, skipped: 0, byStatus: {} as Record<number, number>, byFamily: {} as Record<string, number> };
      counts.set(name, stats);
      const info: RouteInfo = { route, schema: '', props: [], required: [], example: {}, valid: () => false };
      /** An empty object in JSON: the one body such a route takes (clients that always send `{}`), byte order
       * marks before it ignored (the request's decoding drops them before the route sees the text). */
      const emptyObject = (body: string | Uint8Array) => {
        try {
          const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
          const v: unknown = JSON.parse(text.replace(/^\uFEFF+/, ''));
          return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
        } catch {
          return false;
        }
      };
      await fc.assert(
        fc.asyncProperty(arbitrariesFor(info), async (c) => {
          const res = await service.app.request(path, requestInit(route, c));
          stats.sent++;
          stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
          const size = c.body === null ? 0 : bytesOf(c.body).length;
          const where = `${c.family}: ${res.status}`;
          expect(service.unexpected, where).toEqual([]);
          if (size > MAX_BODY_BYTES) expect(res.status, where).toBe(413);
          else if (size === 0) expect(res.status, where).toBe(baseline);
          else if (res.status === baseline) expect(emptyObject(c.body!), `${where}: a non-empty body other than {} was accepted`).toBe(true);
          else expect(res.status, where).toBeGreaterThanOrEqual(400);
          expect(res.status, where).toBeLessThan(500);
          expect(res.headers.get('content-type') ?? '', where).toMatch(/^application\/json/);
        }),
        { numRuns: 300, seed: SEED, endOnFailure: true },
      );
      expect(await flushed()).toEqual(before);
    },
    60_000,
  );
});

describe('through a real listening server', () => {
  let server: ReturnType<typeof serve>;
  let base: string;
  let port: number;

  beforeAll(async () => {
    server = serve({ fetch: service.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('answers a few hundred generated hostile bodies with the 4xx envelope', async () => {
    let sent = 0;
    for (const route of BODY_ROUTES) {
      const info = routeInfo(route);
      let n = 0;
      for (const c of fc.sample(arbitrariesFor(info), { numRuns: 200, seed: SEED + 1 })) {
        const want = await expected(info, c);
        if (want === 'valid' && !c.mustRefuse) continue;
        const res = await fetch(base + pathOf(route), requestInit(route, c));
        const text = await res.text();
        const where = `${route.id} ${c.family}: ${res.status} ${text.slice(0, 200)}`;
        expect(res.status, where).toBeGreaterThanOrEqual(400);
        expect(res.status, where).toBeLessThan(500);
        expect(errorEnvelope(JSON.parse(text)), where).toBe(true);
        if (want !== 'valid' && typeof want.status === 'number') {
          expect({ status: res.status, error: (JSON.parse(text) as { error: string }).error }, where).toEqual(want);
        }
        sent++;
        if (++n === 40) break;
      }
    }
    counts.set('real server: generated bodies', { sent, skipped: 0, byStatus: {}, byFamily: {} });
    expect(sent).toBeGreaterThanOrEqual(300);
    expect(service.unexpected).toEqual([]);
    expect(await flushed()).toEqual(before);
  }, 60_000);

  it('refuses oversized chunked uploads without Content-Length (a valid body, then padding) with 413', async () => {
    // @hono/node-server answers 413 as soon as the limit is passed, then drains the rest of the upload for up
    // to 500 ms before closing the socket; a slow uploader (or the next request on that kept-alive socket) may
    // then see the connection closed instead of the answer. That is HTTP's to decide (RFC 9110 15.5.14), so a
    // closed connection is tolerated here, an answer other than 413 is not; the next test reads the 413
    // deterministically.
    const outcomes: Record<string, number> = {};
    for (const route of BODY_ROUTES) {
      const head = encoder.encode(obj(pairsOf(routeInfo(route).example)));
      const shapes: (readonly [number, number])[] = [[MAX_BODY_BYTES + 1, 512], [64 * 1024, 1024], [1024 * 1024, 16 * 1024]];
      if (route === BODY_ROUTES[0]) shapes.push([MAX_BODY_BYTES + 1, 1]);
      for (const [size, chunk] of shapes) {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= size) return controller.close();
            const piece = sent === 0 ? head : encoder.encode(' '.repeat(Math.min(chunk, size - sent)));
            sent += piece.length;
            controller.enqueue(piece);
          },
        });
        const headers = { authorization: `Bearer ${KEYS.all}`, 'content-type': JSON_TYPE };
        const init = { method: route.method.toUpperCase(), headers, body, duplex: 'half' } as RequestInit;
        let outcome: string;
        try {
          const res = await fetch(base + pathOf(route), init);
          outcome = String(res.status);
          expect(await res.json(), `${route.id} ${size}`).toMatchObject({ error: 'payload_too_large' });
        } catch (err) {
          const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
          outcome = `closed (${cause?.code ?? cause?.message ?? (err as Error).message})`;
          const where = `${route.id} chunked ${size} in ${chunk}-byte chunks`;
          expect(cause?.code ?? cause?.message, where).toMatch(/UND_ERR_|ECONNRESET|EPIPE|other side closed|socket/i);
        }
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
    }
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
    counts.set('real server: chunked uploads', { sent: total, skipped: 0, byStatus: outcomes as Record<number, number>, byFamily: {} });
    expect(Object.keys(outcomes).filter((o) => o !== '413' && !o.startsWith('closed'))).toEqual([]);
    expect(outcomes['413'] ?? 0).toBeGreaterThan(0);
    expect(service.unexpected).toEqual([]);
    expect(await flushed()).toEqual(before);
  }, 60_000);

  it('answers 413 while an endless chunked upload is still going, and keeps serving', async () => {
    for (const route of BODY_ROUTES) {
      const { status, written } = await new Promise<{ status: number; written: number }>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1',
          port,
          method: route.method.toUpperCase(),
          path: pathOf(route),
          headers: { authorization: `Bearer ${KEYS.all}`, 'content-type': JSON_TYPE, 'transfer-encoding': 'chunked' },
        });
        let written = 0;
        let answered = false;
        const chunk = Buffer.alloc(4096, '[');
        const pump = () => {
          if (answered || req.destroyed) return;
          // 64 MiB without an answer would mean the service buffers the whole upload
          if (written > 64 * 1024 * 1024) return reject(new Error(`${route.id}: no answer after ${written} bytes`));
          written += chunk.length;
          if (req.write(chunk)) setImmediate(pump);
          else req.once('drain', pump);
        };
        req.on('response', (res) => {
          answered = true;
          res.resume();
          res.on('end', () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, written });
          });
        });
        // The server answers 413 and then closes the socket while the upload goes on; under load the close can
        // reach the client before the answer is read. A reset connection is a refusal too (status 0 here).
        req.on('error', (err) => {
          if (answered) return;
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ECONNRESET' || code === 'EPIPE' || /other side closed|socket hang up/.test(err.message)) resolve({ status: 0, written });
          else reject(err);
        });
        pump();
      });
      expect([413, 0], route.id).toContain(status);
      expect(written, route.id).toBeLessThan(4 * 1024 * 1024);
    }
    // On a connection of its own: fetch's pool may hand back a keep-alive socket the server is closing just
    // then ("other side closed"), which says nothing about whether the service still serves.
    const health = await fresh(`http://127.0.0.1:${port}`, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok' });
    expect(service.unexpected).toEqual([]);
    expect(await flushed()).toEqual(before);
  }, 60_000);
});

// Valid bodies with hostile content go to a service of their own: they may succeed and change its store.
describe('valid bodies with hostile content (their own service)', () => {
  let own: TestService;
  beforeAll(() => {
    own = startService();
  });
  afterAll(async () => {
    await own?.close();
  });
  const send = async (method: string, path: string, body: string) => {
    const res = await own.app.request(path, { method, headers: { authorization: `Bearer ${KEYS.all}`, 'content-type': JSON_TYPE }, body });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };

  it('may succeed, but never reach the 500 handler: hostile strings, open objects with pollution keys, deep nesting, odd numbers', async () => {
    let sent = 0;
    for (const route of BODY_ROUTES) {
      const info = routeInfo(route);
      const base = pairsOf(info.example);
      const hostileValue = fc.oneof(
        hostileString,
        fc.tuple(fc.constantFrom(...POLLUTION_KEYS), fc.constantFrom(...POLLUTION_PAYLOADS)).map(([k, v]) => obj([[k, v], ['"x"', '1']])),
        fc
          .tuple(fc.constantFrom<'object' | 'proto'>('object', 'proto'), fc.integer({ min: 1000, max: 2000 }))
          .map(([kind, n]) => deep(kind, n)),
        fc.constantFrom(...ODD_NUMBERS).map((n) => obj([['"n"', n]])),
      );
      const body = fc
        .tuple(fc.constantFrom(...(info.props.length > 0 ? info.props : ['x'])), hostileValue, fc.constantFrom(...Object.keys(info.example)), hostileString)
        .map(([k, v, nestedIn, str]) => {
          const inner = info.example[nestedIn];
          if (typeof inner === 'object' && inner !== null && k.length % 2 === 0) {
            // a hostile string inside a nested object (context's user.id, user.groups)
            return obj(replace(base, nestedIn, obj(replace(pairsOf(inner as Record<string, unknown>), 'id', str))));
          }
          return obj(replace(base, k, v));
        })
        .filter((t) => encoder.encode(t).length <= MAX_BODY_BYTES && info.valid(t));
      for (const text of fc.sample(body, { numRuns: 150, seed: SEED + 2 })) {
        const headers = { authorization: `Bearer ${KEYS.all}`, 'content-type': JSON_TYPE };
        const res = await own.app.request(pathOf(route), { method: route.method.toUpperCase(), headers, body: text });
        const answer = await res.text();
        const where = `${route.id} ${text.slice(0, 200)}: ${res.status} ${answer.slice(0, 200)}`;
        expect(own.unexpected, where).toEqual([]);
        expect(res.status, where).toBeLessThan(500);
        const json = JSON.parse(answer) as unknown;
        if (res.status >= 400) expect(errorEnvelope(json), where).toBe(true);
        sent++;
      }
    }
    counts.set('valid bodies with hostile content', { sent, skipped: 0, byStatus: {}, byFamily: {} });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 60_000);

  // A lone surrogate is legal JSON ("\ud800") and passes every string schema; better-sqlite3 writes it as the
  // bytes ED A0 80, which read back as "\ufffd\ufffd\ufffd": a DIFFERENT user id. The service must refuse such
  // ids (400) or keep them intact; either way an id must name one user.
  // user ids as JSON text; none of them is one the fuzz above can produce
  const LONE = '"a\\udbffa"';
  const VICTIM = '"b\\udbffb"';
  const OTHER = '"b\\ufffd\\ufffd\\ufffdb"'; // what VICTIM reads back as
  const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';

  it('a user id with a lone surrogate is refused, or the user can enroll with its own challenge', async () => {
    const d = await send('POST', '/v1/decide', `{"user":{"id":${LONE}},"ip":"81.2.69.142","user_agent":"${UA}","action":"payment.refund"}`);
    if (d.status === 400) return expect(d.json.error).toBe('validation_failed');
    expect(d.status).toBe(200);
    expect(d.json.enrollment.allowed_now).toBe(true);
    const e = await send('POST', '/v1/mfa/totp/enroll', `{"user_id":${LONE},"challenge_id":${q(d.json.challenge_id)}}`);
    expect(e.json.error, 'the challenge read back from the store names another user').toBeUndefined();
    expect(e.status).toBe(200);
  });

  it("a user id with a lone surrogate is refused, or another user's code cannot cancel its recovery", async () => {
    // the other user: literally "b\ufffd\ufffd\ufffdb", enrolled with TOTP
    const d = await send('POST', '/v1/decide', `{"user":{"id":${OTHER}},"ip":"81.2.69.142","user_agent":"${UA}","action":"payment.refund"}`);
    const started = await send('POST', '/v1/mfa/totp/enroll', `{"user_id":${OTHER},"challenge_id":${q(d.json.challenge_id)}}`);
    expect(started.status).toBe(200);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(started.json.secret), algorithm: 'SHA1', digits: 6, period: 30 });
    expect((await send('POST', '/v1/mfa/totp/confirm', `{"user_id":${OTHER},"code":"${totp.generate({ timestamp: own.clock.now })}"}`)).status).toBe(200);
    own.clock.now += 60_000; // a fresh TOTP step

    const victim = await send('POST', '/v1/decide', `{"user":{"id":${VICTIM}},"ip":"81.2.69.142","user_agent":"${UA}"}`);
    if (victim.status === 400) return expect(victim.json.error).toBe('validation_failed');
    const opened = await send('POST', '/v1/recovery', `{"user_id":${VICTIM},"verified_by":"ops-admin","verification":"passport checked"}`);
    if (opened.status === 400) return expect(opened.json.error).toBe('validation_failed');
    expect(opened.status).toBe(201);
    const cancel = await send('DELETE', `/v1/recovery/${encodeURIComponent(opened.json.id)}`, `{"code":"${totp.generate({ timestamp: own.clock.now })}"}`);
    expect(cancel.status, `another user's code cancelled the recovery: ${JSON.stringify(cancel.json)}`).not.toBe(200);
  });
});

describe('afterwards', () => {
  it('nothing reached the 500 handler, Object.prototype is not polluted, the service still answers', async () => {
    expect(service.unexpected).toEqual([]);
    const probe = {} as Record<string, unknown>;
    for (const k of POLLUTED) expect(probe[k], k).toBeUndefined();
    expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames.object);
    expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(prototypeNames.array);
    expect(Object.getOwnPropertyNames(Function.prototype).sort()).toEqual(prototypeNames.fn);
    expect(typeof Object.prototype.toString).toBe('function');
    expect(({}).toString()).toBe('[object Object]');
    const res = await service.app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await flushed()).toEqual(before);
  });
});
