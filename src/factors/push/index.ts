// Push approval with number matching: device keys, the signed answer, the number. Pure functions; the
// service creates the push, hands it to the sender, and the store answers each push at most once.
export { parsePushPublicKey, pushNumber, pushSigningPayload, verifyPushSignature } from './keys.js';
