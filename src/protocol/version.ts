/**
 * The wire protocol's version. It changes only when a message, a field or a meaning changes in
 * a way an existing client would misread; adding an optional field or a message type does not.
 * The server announces it in `welcome` (docs/protocol.md).
 */
export const PROTOCOL_VERSION = 1;
