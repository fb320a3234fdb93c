/**
 * Which struct the records of an export map are. A package names its export types; when it
 * names several (or only a header's structs are known) and nothing chose one, the records'
 * size does: the first record picks the struct of its size. A record whose size is not the
 * struct's is an error naming both sizes, never garbage printed as if it were the struct.
 * Perf buffer samples carry up to 7 bytes of padding after the struct (the kernel rounds
 * a sample to 8 bytes); ring buffer records are exactly what the program reserved.
 */
import type { Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';

export interface EventTypeOptions {
  /** The export map's name, for messages. */
  map: string;
  /** Perf buffer samples: allow the kernel's padding. */
  padded: boolean;
  /** The first candidate is the struct, whatever the sizes (--event, or one export type). */
  fixed: boolean;
}

export class EventTypeChooser {
  private chosen: number | undefined;
  private readonly sizes: Map<number, number>;

  constructor(
    private readonly btf: Btf,
    private readonly candidates: number[],
    private readonly opts: EventTypeOptions,
  ) {
    if (!candidates.length) throw new TsbpfError(`map ${opts.map}: no struct to decode its records with`);
    this.sizes = new Map(candidates.map((id) => [id, btf.size(id)]));
    if (opts.fixed) this.chosen = candidates[0];
  }

  /** The struct chosen so far (the fixed one, or the one the first record picked). */
  get typeId(): number | undefined {
    return this.chosen;
  }

  /** The struct of a record of `length` bytes; throws when no struct fits. */
  forRecord(length: number): number {
    if (this.chosen !== undefined) {
      if (this.fits(this.chosen, length)) return this.chosen;
      throw new TsbpfError(
        `map ${this.opts.map}: a record of ${length} bytes is not ${this.describe(this.chosen)}: the program sends another struct; choose it with --event NAME`,
      );
    }
    const match = this.candidates.find((id) => this.fits(id, length));
    if (match === undefined)
      throw new TsbpfError(
        `map ${this.opts.map}: a record of ${length} bytes is none of ${this.candidates.map((id) => this.describe(id)).join(', ')}; choose the struct with --event NAME`,
      );
    this.chosen = match;
    return match;
  }

  private fits(id: number, length: number): boolean {
    const size = this.sizes.get(id)!;
    return this.opts.padded ? length >= size && length < size + 8 : length === size;
  }

  private describe(id: number): string {
    return `struct ${this.btf.type(id).name || `(id ${id})`} (${this.sizes.get(id)} bytes)`;
  }
}
