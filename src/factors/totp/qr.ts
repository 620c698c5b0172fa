// QR codes of the otpauth:// URI for enrollment: a PNG data URL and an SVG for web pages, and a text
// rendering for the CLI (`mfa-gate enroll`).
import QRCode from 'qrcode';

/**
 * ISO/IEC 18004 level M recovers ~15% damage: enough for a screen photographed at an angle while keeping
 * the symbol small (the acceptance URI, 134 bytes, is a version 8 symbol at M; the longest labels allowed
 * give version 17).
 */
const ERROR_CORRECTION = 'M' as const;
/** ISO/IEC 18004: a quiet zone 4 modules wide around the symbol; scanners rely on it. */
const QUIET_ZONE_MODULES = 4;
/** Pixels per module in the PNG: a version 8 symbol (57 modules with the quiet zone) is 342 px, easy to scan. */
const PNG_SCALE = 6;

export interface TotpQrCodes {
  png_data_url: string;
  svg: string;
}

export async function qrCodes(uri: string): Promise<TotpQrCodes> {
  const [png_data_url, svg] = await Promise.all([
    QRCode.toDataURL(uri, { errorCorrectionLevel: ERROR_CORRECTION, margin: QUIET_ZONE_MODULES, scale: PNG_SCALE }),
    QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: ERROR_CORRECTION, margin: QUIET_ZONE_MODULES }),
  ]);
  return { png_data_url, svg };
}

/**
 * Half-block characters (two modules per character cell) so the symbol fits a normal terminal; it relies
 * on the terminal drawing the blocks dark on light or light on dark consistently, which qrcode handles.
 */
export async function qrTerminal(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: ERROR_CORRECTION });
}
