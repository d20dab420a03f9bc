/**
 * The few parts of the npm `smpp` package (node-smpp 0.5, plain JavaScript without types) this service uses: its
 * PDU codec and its Session over a socket we connect ourselves (through the address guard).
 */
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  export interface PDU {
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    command_length: number;
    /** Mandatory fields and TLVs by their names in the specification (system_id, short_message, message_state, …). */
    [field: string]: unknown;
    isResponse(): boolean;
    /** The response to this request, echoing its sequence number (generic_nack for an unknown command). */
    response(options?: Record<string, unknown>): PDU;
    toBuffer(): Buffer;
  }

  export const PDU: {
    new (command: string | Buffer, options?: Record<string, unknown>): PDU;
    fromBuffer(buffer: Buffer): PDU | false;
    maxLength: number;
  };

  export class Session extends EventEmitter {
    constructor(options: { socket: Duplex });
    socket: Duplex & { writable: boolean; destroyed: boolean };
    /** false when the socket is no longer writable: the PDU did not leave. */
    send(pdu: PDU, responseCallback?: (pdu: PDU) => void, sendCallback?: (pdu: PDU) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    pause(): void;
    resume(): void;
  }

  const smpp: { PDU: typeof PDU; Session: typeof Session };
  export default smpp;
}
