/**
 * Group commit for statements: `submit` queues an item, and items that
 * arrive while earlier batches are in flight go out together in one call of
 * `write`, so the cost per item falls as the load rises and an idle caller
 * waits for nothing. Each caller resolves with its own item's result.
 */
export class Batcher<I, O> {
  private readonly pending: { item: I; resolve: (result: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    /** Writes a batch; resolves with one result per item, in order. */
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly options: { maxBatch: number; maxInFlight: number },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.maxBatch);
      this.inFlight += 1;
      void this.write(batch.map(({ item }) => item))
        .then(
          (results) => {
            for (const [index, { resolve, reject }] of batch.entries()) {
              if (index < results.length) resolve(results[index] as O);
              else reject(new Error("the batch returned no result for this item"));
            }
          },
          (error: unknown) => {
            for (const { reject } of batch) reject(error);
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          this.pump();
        });
    }
  }
}
