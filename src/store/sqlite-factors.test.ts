import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefixUpperBound } from './sqlite-factors.js';
import { openSqliteStore } from './sqlite.js';

describe('prefixUpperBound', () => {
  it('increments the last code point, carrying past U+10FFFF and skipping the surrogates', () => {
    expect(prefixUpperBound('user:a:')).toBe('user:a;');
    expect(prefixUpperBound('a\u{D7FF}')).toBe('a\u{E000}');
    expect(prefixUpperBound('a\u{10FFFF}')).toBe('b');
    expect(prefixUpperBound('\u{10FFFF}\u{10FFFF}')).toBeNull();
    expect(prefixUpperBound('\uD800')).toBe('\uFFFE'); // a lone surrogate reaches SQLite as U+FFFD
  });
});

describe('unlock by prefix', () => {
  it('clears exactly the subjects that start with the prefix, whatever the characters', async () => {
    // The characters that could go wrong: LIKE/GLOB wildcards and escapes, case, the ':' separator,
    // multi-byte, the last BMP and the last Unicode code point, an astral one (a surrogate pair in JS).
    const char = fc.constantFrom('a', 'A', 'b', ':', ';', '%', '_', '*', '?', '[', '\\', 'é', '\u{FFFF}', '\u{10FFFF}', '😀');
    const text = fc.array(char, { minLength: 1, maxLength: 6 }).map((cs) => cs.join(''));
    const store = openSqliteStore({ path: ':memory:' });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(text, { minLength: 1, maxLength: 12 }),
          fc.nat(),
          fc.option(text),
          async (subjects, pick, random) => {
            // Mostly a real prefix of one of the subjects (cut between characters), sometimes anything.
            const chars = Array.from(subjects[pick % subjects.length]!);
            const prefix = random ?? chars.slice(0, 1 + (pick % chars.length)).join('');
            for (const subject of subjects) await store.recordFailure(subject, 1, 1);
            const expected = subjects.filter((subject) => subject.startsWith(prefix));
            expect(await store.unlock(prefix)).toBe(expected.length);
            for (const subject of subjects) {
              expect((await store.getFailures(subject)).locked_at, subject).toBe(subject.startsWith(prefix) ? null : 1);
            }
            for (const subject of subjects) await store.unlock(subject); // clean up for the next run
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      await store.close();
    }
  });
});
