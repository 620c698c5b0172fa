// The MFA page's only stylesheet, served as a file so the CSP needs no 'unsafe-inline' for styles.
// Phone first: one column, inputs and buttons at least 44 px tall (WCAG 2.5.5 target size), 16 px+ text
// so mobile browsers do not zoom on focus, and the system's light or dark scheme.
export const STYLESHEET = `
:root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; }
body { margin: 0; padding: 1rem; font-size: 1.0625rem; }
main { max-width: 30rem; margin: 0 auto; }
h1 { font-size: 1.5rem; line-height: 1.25; }
h2 { font-size: 1.125rem; margin-top: 1.5rem; }
label { display: block; font-weight: 600; margin-top: 1rem; }
.hint { margin: .25rem 0 .5rem; font-size: .9375rem; opacity: .8; }
input[type=text] { box-sizing: border-box; width: 100%; min-height: 3rem; padding: .5rem .75rem; font-size: 1.375rem;
  font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; letter-spacing: .08em; border: 2px solid #6b7280; border-radius: .5rem; }
button, .button { box-sizing: border-box; display: block; width: 100%; min-height: 3rem; margin-top: 1rem; padding: .75rem 1rem;
  font: inherit; font-weight: 600; text-align: center; text-decoration: none; color: #fff; background: #1d4ed8; border: 0; border-radius: .5rem; cursor: pointer; }
button:hover, .button:hover { background: #1e40af; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.error { margin: 1rem 0; padding: .5rem .75rem; border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .1); }
.warning { padding: .5rem .75rem; border-left: 4px solid #d97706; background: rgba(217, 119, 6, .1); }
.qr img { display: block; width: 100%; max-width: 15rem; height: auto; image-rendering: pixelated; background: #fff; }
.secret, .codes { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 1.125rem; }
.secret { word-spacing: .25em; overflow-wrap: anywhere; }
.codes { columns: 2; column-gap: 2rem; padding-left: 1.75rem; }
.codes li { margin: .25rem 0; }
.codes code { white-space: nowrap; }
a { color: #2563eb; }
@media (prefers-color-scheme: dark) { a { color: #93c5fd; } }
`;
