/**
 * The parts of node that gserve's workers use and @types/node does not declare, declared here once
 * so the code that uses them needs no casts. Each exists in every node version gserve supports.
 */

/** `Server.prototype._listen2(address, port, addressType, backlog, fd)`: listen on a descriptor. */
type ListenTwo = (address: null, port: null, addressType: null, backlog: number | undefined, fd: number) => void;

declare module 'node:net' {
  interface Server {
    /** Node's own path for the cluster master and `exclusive` listens: it takes a descriptor unchanged. */
    _listen2?: ListenTwo;
  }
}

declare global {
  namespace NodeJS {
    interface Process {
      /** POSIX only: set the supplementary groups from the group database (node has it since 0.9). */
      initgroups?: (user: string | number, extraGroup: string | number) => void;
    }
  }
}

export {};
