import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../errors.js';
import { createAjv, formatPath, parseYamlWithSchema } from './yaml-source.js';

// A schema of another shape (like the policy test suites'), to show the loader is not policy-specific.
const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    kind: { const: 'suite' },
    limit: { oneOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+[smh]$' }] },
    tags: { type: 'array', items: { type: 'string' }, uniqueItems: true, maxItems: 3 },
    labels: { type: 'object', propertyNames: { pattern: '^[a-z]+$' }, additionalProperties: { type: 'string' } },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: { run: { type: 'string' }, when: { type: 'string' }, code: { type: 'string', format: 'even' } },
        anyOf: [{ required: ['run'] }, { required: ['when'] }],
      },
    },
  },
};
const ajv = createAjv([{ name: 'even', explain: (v) => (v.length % 2 === 0 ? null : 'odd length') }]);
const validate = ajv.compile(SCHEMA);
const lines = (text: string, v = validate): string[] => parseYamlWithSchema(text, 's.yaml', v).problems.map(formatProblem);

describe('parseYamlWithSchema', () => {
  it('returns the value and no problems for a valid document', () => {
    const r = parseYamlWithSchema('name: a\nsteps:\n  - run: x\n', 's.yaml', validate);
    expect(r.problems).toEqual([]);
    expect(r.syntaxErrors).toBe(false);
    expect(r.value).toEqual({ name: 'a', steps: [{ run: 'x' }] });
  });

  it('locates values, keys and list items', () => {
    const r = parseYamlWithSchema('name: a\nsteps:\n  - run: x\n    when: "y"\n', 's.yaml', validate);
    expect(r.locate(['steps', 0, 'when'])).toEqual({ line: 4, col: 11 });
    expect(r.locateKey(['steps', 0, 'when'])).toEqual({ line: 4, col: 5 });
    expect(r.locate(['steps', 0])).toEqual({ line: 3, col: 5 });
    expect(r.locateKey(['steps', 0])).toEqual({ line: 3, col: 5 });
    // A path that runs out: the deepest node that exists.
    expect(r.locate(['steps', 0, 'nothing', 3])).toEqual({ line: 3, col: 5 });
    expect(r.locate([])).toEqual({ line: 1, col: 1 });
    expect(r.problem(['steps', 0, 'run'], 'bad')).toEqual({ file: 's.yaml', line: 3, col: 10, path: 'steps[0].run', message: 'bad' });
  });

  it('collapses oneOf: a type that fits no branch is one line', () => {
    expect(lines('name: a\nlimit: true\n')).toEqual(['s.yaml:2:8 limit: expected an integer or a string, got boolean true']);
  });

  it('collapses oneOf: the branch whose type fits speaks', () => {
    expect(lines('name: a\nlimit: 0\n')).toEqual(['s.yaml:2:8 limit: must be >= 1 (got 0)']);
    expect(lines('name: a\nlimit: 5x\n')).toEqual(['s.yaml:2:8 limit: must match ^[0-9]+[smh]$ (got "5x")']);
  });

  it('collapses anyOf of required keys', () => {
    expect(lines('name: a\nsteps:\n  - {}\n')).toEqual(['s.yaml:3:5 steps[0]: needs at least one of the keys "run", "when"']);
  });

  it('explains custom formats', () => {
    expect(lines('name: a\nsteps:\n  - {run: x, code: abc}\n')).toEqual(['s.yaml:3:20 steps[0].code: must be a valid even (got "abc": odd length)']);
  });

  it('reports const, uniqueItems, maxItems, minLength and propertyNames', () => {
    expect(lines('name: ""\nkind: test\ntags: [a, b, a, c]\nlabels: {Bad: x}\n')).toEqual([
      's.yaml:1:7 name: must not be empty',
      's.yaml:2:7 kind: must be "suite" (got "test")',
      's.yaml:3:7 tags: must have at most 3 items',
      's.yaml:3:14 tags[2]: duplicate of item 0',
      's.yaml:4:10 labels.Bad: invalid key',
    ]);
  });

  it('gives the same messages with an ajv that is not verbose', () => {
    const plain = new Ajv2020({ allErrors: true, strict: false }).compile(SCHEMA);
    expect(lines('name: 3\nnmae: x\nlimit: true\n', plain)).toEqual([
      's.yaml:1:7 name: expected a string, got number 3 (quote it if you mean the text: "3")',
      's.yaml:2:1 nmae: unknown key',
      's.yaml:3:8 limit: expected an integer or a string, got boolean true',
    ]);
  });

  it('stops after YAML syntax errors', () => {
    const r = parseYamlWithSchema('name: [a\nother: 1\n', 's.yaml', validate);
    expect(r.syntaxErrors).toBe(true);
    expect(r.value).toBeUndefined();
    expect(r.problems.map(formatProblem)[0]).toMatch(/^s\.yaml:2:1 invalid YAML: /);
  });

  it('reports duplicate keys and still validates the rest', () => {
    expect(lines('name: a\nname: b\nkind: x\n')).toEqual(['s.yaml:2:1 name: duplicate key (first defined on line 1)', 's.yaml:3:7 kind: must be "suite" (got "x")']);
  });
});

describe('formatPath', () => {
  it.each([
    [[], ''],
    [['mfa_enforcement', 'grace_period'], 'mfa_enforcement.grace_period'],
    [['rules', 0, 'when'], 'rules[0].when'],
    [['networks', 'trusted', 2], 'networks.trusted[2]'],
    [['rules', 1, 'when', '==', 0, 'var'], 'rules[1].when["=="][0].var'],
    [['attributes', 'a b'], 'attributes["a b"]'],
    [[0, 'x'], '[0].x'],
  ] as [(string | number)[], string][])('%j -> %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });
});
