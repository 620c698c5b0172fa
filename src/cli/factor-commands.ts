// The seed's command-line flow (mfa.py: list accounts, create one with a QR code, authenticate with a code)
// against the store: `enroll`, `verify`, `users`.
import { createInterface } from 'node:readline/promises';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { qrTerminal } from '../factors/totp/index.js';
import { createLogger } from '../log.js';
import { UsageError, parse, type Command } from './command.js';
import { SQLITE_FILE, openServices } from './services.js';

const STORE_OPTIONS = {
  db: { type: 'string', default: process.env.MFA_GATE_DATA_DIR ? join(process.env.MFA_GATE_DATA_DIR, SQLITE_FILE) : join('data', SQLITE_FILE) },
  'database-url': { type: 'string', default: process.env.MFA_GATE_DATABASE_URL ?? '' },
  policy: { type: 'string', default: process.env.MFA_GATE_POLICY ?? 'policies/default.yaml' },
} as const;
const STORE_HELP = `  --db FILE       the SQLite store (default data/mfa-gate.db; its folder also holds secret.key
                  unless MFA_GATE_SECRET_KEY is set)
  --database-url URL  MFA_GATE_DATABASE_URL: the PostgreSQL store instead (postgres://...; needs
                  MFA_GATE_SECRET_KEY, the key the servers use)
  --policy FILE   the policy (default policies/default.yaml)`;

// Operator commands print to the terminal; their log (audit events at MFA_GATE_LOG_LEVEL=info) goes to
// standard error as JSON lines, and start-up notices (a generated key) as plain text.
function cliServices(values: { db: string; 'database-url': string; policy: string }) {
  const logger = createLogger(pino.destination(2), process.env.MFA_GATE_LOG_LEVEL ?? 'warn');
  return openServices({
    dataDir: dirname(values.db),
    sqlitePath: values.db,
    databaseUrl: values['database-url'],
    policy: values.policy,
    logger,
    notice: (m) => console.error(`mfa-gate: ${m}`),
  });
}

export const enrollCommand: Command = {
  name: 'enroll',
  summary: 'enroll a user in TOTP: QR code in the terminal, confirm with a code, print backup codes',
  usage: `usage: mfa-gate enroll --user USER [--issuer NAME] [--account NAME] [--db FILE] [--policy FILE]

Starts a TOTP enrollment as an administrator, shows the QR code in the terminal (and the otpauth:// URI
and secret for manual entry), then asks for a code from the authenticator app to confirm it and prints
the backup codes, once. Replacing an existing factor asks for a current code first.

${STORE_HELP}`,
  async run(argv) {
    const { values } = parse(argv, { ...STORE_OPTIONS, user: { type: 'string' }, issuer: { type: 'string' }, account: { type: 'string' } });
    if (!values.user) throw new UsageError('--user is required');
    const services = await cliServices(values);
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
    try {
      const user = values.user;
      let current: string | undefined;
      if (await services.store.getActiveTotp(user)) {
        current = (await rl.question(`${user} already has a TOTP factor. Enter a current code (or a backup code) to replace it: `)).trim();
      }
      const started = await services.factors.enrollTotp({
        user_id: user,
        ...(values.issuer ? { issuer: values.issuer } : {}),
        ...(values.account ? { account_name: values.account } : {}),
        ...(current !== undefined ? { code: current } : {}),
        admin: `cli:${process.env.USER ?? 'operator'}`,
      });
      if (!started.ok) {
        console.error(`mfa-gate enroll: ${started.message}`);
        return 1;
      }
      console.log(`Scan this with an authenticator app:\n\n${await qrTerminal(started.otpauth_uri)}`);
      console.log(`or enter it by hand:\n  URI     ${started.otpauth_uri}\n  secret  ${started.secret}\n`);
      const code = (await rl.question('Enter the 6-digit code the app shows, to confirm: ')).trim();
      const confirmed = await services.factors.confirmTotp({ user_id: user, code });
      if (!confirmed.ok) {
        console.error(`mfa-gate enroll: ${confirmed.message}${confirmed.attempts_remaining !== undefined ? ` (${confirmed.attempts_remaining} attempts left)` : ''}; run enroll again`);
        return 1;
      }
      console.log(`\n${user} is enrolled. Backup codes, shown only now; keep them somewhere safe:\n`);
      for (const c of confirmed.backup_codes) console.log(`  ${c}`);
      return 0;
    } finally {
      rl.close();
      await services.close();
    }
  },
};

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check a TOTP or backup code for a user (exit 0 or 1)',
  usage: `usage: mfa-gate verify --user USER --code CODE [--db FILE] [--policy FILE]

Verifies a TOTP code or a backup code, exactly as the API does: throttled, a TOTP code accepted once,
a backup code used up. Exit 0 when valid, 1 otherwise, with the reason.

${STORE_HELP}`,
  async run(argv) {
    const { values } = parse(argv, { ...STORE_OPTIONS, user: { type: 'string' }, code: { type: 'string' } });
    if (!values.user || values.code === undefined) throw new UsageError('--user and --code are required');
    const services = await cliServices(values);
    try {
      const r = await services.factors.verify({ user_id: values.user, code: values.code });
      if (!r.ok) {
        const extra = r.retry_after_s !== undefined ? ` (retry in ${r.retry_after_s} s)` : r.attempts_remaining !== undefined ? ` (${r.attempts_remaining} attempts before the lock)` : '';
        console.error(`invalid: ${r.message}${extra}`);
        return 1;
      }
      console.log(`ok: ${r.factor === 'totp' ? 'TOTP code' : 'backup code'} verified for ${values.user}; ${r.backup_codes_remaining} backup codes left`);
      return 0;
    } finally {
      await services.close();
    }
  },
};

export const usersCommand: Command = {
  name: 'users',
  summary: 'list users with enrollment state, backup codes left and known devices',
  usage: `usage: mfa-gate users [--json] [--db FILE] [--policy FILE]

${STORE_HELP}
  --json          one JSON document instead of a table`,
  async run(argv) {
    const { values } = parse(argv, { ...STORE_OPTIONS, json: { type: 'boolean' } });
    const services = await cliServices(values);
    try {
      const users = await services.store.listUsers();
      if (values.json) {
        console.log(JSON.stringify(users, null, 2));
        return 0;
      }
      if (users.length === 0) {
        console.log('no users yet');
        return 0;
      }
      const rows = users.map((u) => [
        u.id,
        u.enrolled_at === null ? 'not enrolled' : `enrolled ${new Date(u.enrolled_at).toISOString().slice(0, 10)}`,
        String(u.backup_codes_remaining),
        u.known_devices.map((d) => d.key).join(', ') || '-',
        u.pending_recoveries.length > 0 ? `recovery pending until ${new Date(Math.min(...u.pending_recoveries.map((r) => r.effective_at))).toISOString()}` : '',
      ]);
      const header = ['USER', 'TOTP', 'BACKUP CODES', 'KNOWN DEVICES', ''];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      for (const r of [header, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
      return 0;
    } finally {
      await services.close();
    }
  },
};
