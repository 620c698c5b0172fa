import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { qrCodes, qrTerminal } from './qr.js';
import { buildUri } from './uri.js';

// jsqr is CommonJS with an `exports.default`: under NodeNext typing the default import is the module object.
const jsQR = jsQRModule.default;

const uri = buildUri({ issuer: 'ACME Co', account: 'john.doe@email.com', secret: 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ' });

function decodePngDataUrl(dataUrl: string): string | null {
  const prefix = 'data:image/png;base64,';
  expect(dataUrl.startsWith(prefix)).toBe(true);
  const png = PNG.sync.read(Buffer.from(dataUrl.slice(prefix.length), 'base64'));
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data ?? null;
}

describe('qrCodes', () => {
  it('the PNG decodes back to the otpauth URI', async () => {
    const { png_data_url } = await qrCodes(uri);
    expect(decodePngDataUrl(png_data_url)).toBe(uri);
  });

  it('decodes for long Unicode labels too', async () => {
    const long = buildUri({ issuer: 'Ünïcödé Bank 日本', account: 'x'.repeat(100) + '@example.com', secret: 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ' });
    expect(decodePngDataUrl((await qrCodes(long)).png_data_url)).toBe(long);
  });

  it('the SVG is an SVG document', async () => {
    const { svg } = await qrCodes(uri);
    expect(svg).toContain('<svg');
    expect(svg).toContain('</svg>');
  });
});

describe('qrTerminal', () => {
  it('renders a non-empty multi-line block', async () => {
    const text = await qrTerminal(uri);
    expect(text.length).toBeGreaterThan(0);
    expect(text.split('\n').length).toBeGreaterThan(10);
  });
});
