// One-time codes by message: generation, normalisation, keyed hashing, destinations. Pure functions; the
// service sends through the operator's sender, stores the hashes, and the store consumes each at most once.
export {
  MESSAGE_CHANNELS,
  MESSAGE_CODE_DIGITS,
  MESSAGE_CODE_HMAC_PURPOSE,
  checkAddress,
  generateMessageCode,
  hashMessageCode,
  maskAddress,
  messageCodeHashes,
  normalizeMessageCode,
} from './codes.js';
