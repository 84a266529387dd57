/** Test support: hand-built hostile updates. Not part of the policy's API; tests of this and other packages import it. */
export { type Attack, type AttackContext, attacks, messageId } from "./attacks.ts";
export { changeOf, itemOf, type RawClientStructs, type RawStruct, rawUpdate } from "./raw-update.ts";
