import type { KeyObject } from 'node:crypto';
import { ChainHasher, entryDigest, GENESIS_HASH, type ChainedFields } from './canonical-entry';
import { checkpointSignatureProblem, type Checkpoint } from './checkpoint';

/** One position of the chain as stored: its hash, and the entry (null: the entry is gone). */
export interface ChainLink {
  seq: string;
  /** Hex. */
  hash: string;
  hashVersion: number;
  entry: Omit<ChainedFields, 'seq'> | null;
  /**
   * The entry's digest when computed ahead: an export is digested line by line, and the
   * database's rows as they are read (hex; see link-reader.ts).
   */
  digest?: Buffer | string;
  /** Why the entry's digest could not be computed ahead. */
  hashError?: string;
  /**
   * The entry is gone because retention archived and purged its month (its position is in an
   * archive's manifest): the chain goes on from the link's stored hash, and the entry itself
   * verifies offline against its archive file.
   */
  archived?: boolean;
}

export interface Invalid {
  /** The first position where the chain does not hold; null for an entry outside the chain. */
  seq: string | null;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Positions checked. */
  checked: number;
  /** Of those, positions whose entries retention archived and purged (checked from their stored hash). */
  archived: number;
  /** The last signed checkpoint that the checked range reached and that held. */
  lastCheckpoint: Checkpoint | null;
  firstInvalid: Invalid | null;
}

/**
 * Checks a run of the chain, link by link, in `seq` order: positions are gapless, every
 * link's hash is SHA-256(previous hash || digest of its entry), and wherever a signed
 * checkpoint exists its hash is the chain's and its signature holds with a trusted key.
 * Stops at the first problem. The same code runs in the service, the CLI against the
 * database, and the CLI against an export (nothing of the service needed but the files).
 *
 * Checkpoints come from every copy there is (the database, the checkpoint file, an export):
 * two copies of one position that differ are a problem in themselves, so rewriting history
 * takes the private key and every copy.
 */
export class ChainVerifier {
  private readonly hasher: ChainHasher;
  private expected: bigint;
  private checked = 0;
  private archived = 0;
  private lastCheckpoint: Checkpoint | null = null;
  private invalid: Invalid | null = null;
  private readonly checkpoints = new Map<string, Checkpoint>();
  /** Positions whose checkpoint copies differ. */
  private readonly conflicts = new Set<string>();

  /**
   * @param from the first position to check (1, or a later one with `prevHash`, the stored
   *   hash of the position before it)
   */
  constructor(
    private readonly trusted: ReadonlyMap<string, KeyObject>,
    checkpointCopies: Iterable<Checkpoint>,
    from: bigint = 1n,
    prevHash: Buffer = GENESIS_HASH,
  ) {
    this.expected = from;
    this.hasher = new ChainHasher(prevHash);
    for (const c of checkpointCopies) {
      const other = this.checkpoints.get(c.seq);
      if (!other) this.checkpoints.set(c.seq, c);
      else if (other.hash !== c.hash || other.signature !== c.signature || other.keyId !== c.keyId)
        this.conflicts.add(c.seq);
    }
  }

  get failed(): boolean {
    return this.invalid !== null;
  }

  /** Checks the next link; false once the chain is known to be invalid. */
  push(link: ChainLink): boolean {
    if (this.invalid) return false;
    const seq = BigInt(link.seq);
    if (seq !== this.expected)
      return this.fail(
        this.expected.toString(),
        seq > this.expected
          ? `position ${this.expected} is missing from the chain`
          : `position ${link.seq} appears twice or out of order`,
      );
    let computed: string;
    if (!link.entry && link.digest === undefined && link.hashError === undefined) {
      // Nothing of the entry: its row is gone — purged with an archive, or deleted.
      if (!link.archived)
        return this.fail(link.seq, `the entry at position ${link.seq} was deleted`);
      computed = link.hash;
      this.archived++;
    } else {
      try {
        if (link.hashError !== undefined) throw new Error(link.hashError);
        computed = this.hasher.next(
          link.digest ?? entryDigest({ ...link.entry!, seq: link.seq }, link.hashVersion),
        );
      } catch (error) {
        return this.fail(
          link.seq,
          `the entry at position ${link.seq} cannot be hashed: ${(error as Error).message}`,
        );
      }
    }
    if (computed !== link.hash)
      return this.fail(
        link.seq,
        `the entry at position ${link.seq} does not match its hash (changed, or the chain was rewritten)`,
      );
    if (this.conflicts.has(link.seq))
      return this.fail(link.seq, `the copies of checkpoint ${link.seq} differ`);
    const checkpoint = this.checkpoints.get(link.seq);
    if (checkpoint) {
      const problem = checkpointSignatureProblem(checkpoint, this.trusted);
      if (problem) return this.fail(link.seq, problem);
      if (checkpoint.hash !== link.hash)
        return this.fail(link.seq, `the chain does not match the signed checkpoint at ${link.seq}`);
      this.lastCheckpoint = checkpoint;
    }
    this.hasher.advance(computed);
    this.expected = seq + 1n;
    this.checked++;
    return true;
  }

  /**
   * The verdict. `endOfChain`: the links pushed reach the chain's end (not a range's end), so
   * a signed checkpoint beyond the last link means the tail was cut off.
   */
  finish({ endOfChain }: { endOfChain: boolean }): VerifyResult {
    // The first checkpoint past the last link: only possible if the tail was cut off.
    const beyond = endOfChain
      ? [...this.checkpoints.values()]
          .filter((c) => BigInt(c.seq) >= this.expected)
          .sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1))[0]
      : undefined;
    if (beyond && !this.invalid) {
      const problem = checkpointSignatureProblem(beyond, this.trusted);
      this.fail(
        problem ? beyond.seq : this.expected.toString(),
        problem ??
          `the chain ends at ${this.expected - 1n} but a signed checkpoint covers position ${beyond.seq} (entries were removed from its end)`,
      );
    }
    return {
      ok: this.invalid === null,
      checked: this.checked,
      archived: this.archived,
      lastCheckpoint: this.lastCheckpoint,
      firstInvalid: this.invalid,
    };
  }

  /** Records a problem found outside the links (e.g. an entry that is in no position). */
  fail(seq: string | null, reason: string): false {
    this.invalid ??= { seq, reason };
    return false;
  }
}
