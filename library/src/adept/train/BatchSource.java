package adept.train;

/** Where the step loop's token blocks come from: a packed token file, or blocks given in memory. */
@FunctionalInterface
interface BatchSource {
    /** Shard `shard` of `shards` of the next batchSize blocks, row-major; the position advances by the whole batch. */
    long[] nextBatch(int batchSize, int shard, int shards);
}
