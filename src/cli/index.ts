// `mfa-gate <command>`: the command-line entry point (bin/mfa-gate.js runs it through tsx).
import cluster from 'node:cluster';
import { evalCommand } from './eval.js';
import { replayCommand } from './replay.js';
import { enrollCommand, usersCommand, verifyCommand } from './factor-commands.js';
import { serveCommand } from './serve.js';
import { testCommand } from './test.js';
import { validateCommand } from './validate.js';
import { UsageError, type Command } from './command.js';

const COMMANDS: Command[] = [serveCommand, validateCommand, testCommand, evalCommand, replayCommand, enrollCommand, verifyCommand, usersCommand];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'mfa-gate: policy-driven, risk-based MFA enforcement',
    '',
    'usage: mfa-gate <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `mfa-gate <command> --help` for a command\'s options.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`mfa-gate: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`mfa-gate ${command.name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    throw err;
  }
}

const code = await main(process.argv.slice(2));
// `serve` keeps running: it returns -1 and the server holds the event loop open.
if (code >= 0) {
  process.exitCode = code;
  // A `serve --workers` worker that could not start: its channel to the primary would keep it alive (and a
  // disconnect makes node:cluster exit it with 0, hiding the failure).
  if (cluster.isWorker) process.exit(code);
}
