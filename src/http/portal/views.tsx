/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// The MFA page's views, server-rendered with hono/jsx. No script at all: every step is a plain form post or
// link, so the page works without JavaScript and under a CSP that allows none. The pragmas above keep the
// JSX runtime right when the sources run through tsx from a directory without this tsconfig.
import type { Child } from 'hono/jsx';

/** Relative, so the page also works when a proxy serves it under a path prefix. */
export const STYLESHEET_HREF = 'mfa/style.css';

/** Hooks the browser acceptance test and the unit tests select by; part of the page's contract. */
export const TESTID = {
  secret: 'totp-secret',
  qr: 'totp-qr',
  otpauthLink: 'totp-uri',
  backupCodes: 'backup-codes',
  continue: 'continue',
  error: 'error',
  signedIn: 'signed-in',
  message: 'message',
  verifyForm: 'verify-form',
  confirmForm: 'confirm-form',
} as const;

export const LABELS = {
  verify: 'Code from your authenticator app or a backup code',
  confirm: 'Code from your authenticator app',
  verifyButton: 'Verify',
  confirmButton: 'Confirm',
  continue: 'Continue',
} as const;

/** The hidden fields every form carries back. */
export interface FormState {
  csrf: string;
  rd: string;
  challenge: string;
}

export function Layout({ title, children }: { title: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        <title>{`${title} – sign-in verification`}</title>
        <link rel="stylesheet" href={STYLESHEET_HREF} />
      </head>
      <body>
        <main>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}

function ErrorNote({ error }: { error?: string | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" id="code-error" data-testid={TESTID.error}>
      {error}
    </p>
  );
}

function Hidden({ state, action }: { state: FormState; action: 'verify' | 'confirm' }) {
  return (
    <>
      <input type="hidden" name="csrf" value={state.csrf} />
      <input type="hidden" name="rd" value={state.rd} />
      <input type="hidden" name="challenge" value={state.challenge} />
      <input type="hidden" name="action" value={action} />
    </>
  );
}

/** The sign-in form of an enrolled user: one field that takes a TOTP or a backup code. */
export function VerifyForm({ state, error }: { state: FormState; error?: string | undefined }) {
  return (
    <form method="post" data-testid={TESTID.verifyForm}>
      <ErrorNote error={error} />
      <Hidden state={state} action="verify" />
      <label for="code">{LABELS.verify}</label>
      <p class="hint" id="code-hint">
        The 6-digit code your app shows now, or one of your backup codes (like 7K2M-9QXD-4HTR).
      </p>
      {/* inputmode text, not numeric: backup codes have letters. */}
      <input
        type="text"
        id="code"
        name="code"
        autocomplete="one-time-code"
        inputmode="text"
        autocapitalize="characters"
        maxlength={64}
        required
        autofocus
        aria-describedby={error ? 'code-error code-hint' : 'code-hint'}
        aria-invalid={error ? 'true' : undefined}
      />
      <button type="submit">{LABELS.verifyButton}</button>
    </form>
  );
}

/** The confirm step of an enrollment: a TOTP from the app just set up. */
export function ConfirmForm({ state, error }: { state: FormState; error?: string | undefined }) {
  return (
    <form method="post" data-testid={TESTID.confirmForm}>
      <ErrorNote error={error} />
      <Hidden state={state} action="confirm" />
      <label for="code">{LABELS.confirm}</label>
      <p class="hint" id="code-hint">
        Enter the 6-digit code the app shows for this account to finish setting it up.
      </p>
      <input
        type="text"
        id="code"
        name="code"
        autocomplete="one-time-code"
        inputmode="numeric"
        maxlength={64}
        required
        aria-describedby={error ? 'code-error code-hint' : 'code-hint'}
        aria-invalid={error ? 'true' : undefined}
      />
      <button type="submit">{LABELS.confirmButton}</button>
    </form>
  );
}

/** Groups of four, as authenticator apps show and users type them; apps ignore the spaces. */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

export function EnrollView(props: { state: FormState; secret: string; otpauthUri: string; qrPngDataUrl: string }) {
  return (
    <Layout title="Set up two-step verification">
      <p>Your account needs a second step at sign-in. Set up an authenticator app (such as Google Authenticator, Microsoft Authenticator, 1Password or Aegis) once; it will show a new 6-digit code every 30 seconds.</p>
      <h2>1. Add your account to the app</h2>
      <p>Scan this QR code with the app:</p>
      <p class="qr">
        <img src={props.qrPngDataUrl} alt="QR code that adds this account to an authenticator app" data-testid={TESTID.qr} width={240} height={240} />
      </p>
      <p>
        Can't scan it? Add the account by hand with this setup key (time-based):
      </p>
      <p>
        <code class="secret" data-testid={TESTID.secret}>
          {groupSecret(props.secret)}
        </code>
      </p>
      <p>
        On the phone with the app? <a href={props.otpauthUri} data-testid={TESTID.otpauthLink}>Open it in your authenticator app</a>.
      </p>
      <h2>2. Confirm with a code</h2>
      <ConfirmForm state={props.state} />
    </Layout>
  );
}

/** A failed confirm: no new QR code (the app already holds the pending secret), a way to start over. */
export function ConfirmRetryView({ state, error, restartHref }: { state: FormState; error: string; restartHref: string }) {
  return (
    <Layout title="Set up two-step verification">
      <ConfirmForm state={state} error={error} />
      <p>
        Lost the QR code or the setup key? <a href={restartHref}>Start the setup again</a> (remove the old entry from the app first).
      </p>
    </Layout>
  );
}

export function SignInView({ state, error }: { state: FormState; error?: string | undefined }) {
  return (
    <Layout title="Two-step verification">
      <VerifyForm state={state} error={error} />
    </Layout>
  );
}

export function BackupCodesView({ codes, continueHref }: { codes: string[]; continueHref: string | null }) {
  return (
    <Layout title="Save your backup codes">
      <p>Two-step verification is on. If you lose your phone, each of these codes signs you in once instead of a code from the app.</p>
      <p class="warning">
        <strong>This is the only time they are shown.</strong> Print them or keep them in a password manager now.
      </p>
      <ol class="codes" data-testid={TESTID.backupCodes}>
        {codes.map((code) => (
          <li>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      {continueHref !== null ? (
        <a class="button" href={continueHref} data-testid={TESTID.continue}>
          {LABELS.continue}
        </a>
      ) : (
        <p data-testid={TESTID.signedIn}>You're signed in. You can go back to your application.</p>
      )}
    </Layout>
  );
}

export function SignedInView({ refusedRedirect }: { refusedRedirect: boolean }) {
  return (
    <Layout title="You're signed in">
      <p data-testid={TESTID.signedIn}>Verification complete. You can go back to your application.</p>
      {refusedRedirect ? <p>The address you came from is not one this sign-in may send you back to, so it was not opened.</p> : null}
    </Layout>
  );
}

/** A page that explains why nothing happened, with an optional way forward. */
export function MessageView({ title, message, link }: { title: string; message: string; link?: { href: string; text: string } | undefined }) {
  return (
    <Layout title={title}>
      <p data-testid={TESTID.message}>{message}</p>
      {link ? (
        <p>
          <a href={link.href}>{link.text}</a>
        </p>
      ) : null}
    </Layout>
  );
}
