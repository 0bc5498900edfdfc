package adept.io.data;

/**
 * Fixed-length training blocks over a {@link TokenFile}, as Hugging Face run_clm's group_texts makes them: the
 * non-overlapping windows {@code [i*T, (i+1)*T)} for {@code i < floor(tokenCount / T)}, the remainder dropped.
 *
 * <p>Each epoch visits every block once, in a seeded shuffled order. Epoch e's order is a Fisher-Yates shuffle of
 * 0..n-1 (n = blocks per epoch) drawn from {@code new java.util.SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (e +
 * 1)))} (64-bit wrapping multiply): start from the identity order, then for i from n-1 down to 1: j =
 * rng.nextInt(i + 1); swap(order[i], order[j]).
 *
 * <p>To reproduce it elsewhere (e.g. in Python), with 64-bit wrapping arithmetic and {@code >>>} the unsigned shift:
 * SplittableRandom(s) starts with state = s; nextInt() does state += 0x9E3779B97F4A7C15, then z = (state ^ (state
 * >>> 33)) * 0x62A9D9ED799705F5, and returns the high 32 bits of (z ^ (z >>> 28)) * 0xCB24D0A5C88C35B3 as a signed
 * int; nextInt(bound) takes r = nextInt(), m = bound - 1; if bound is a power of two it returns {@code r & m}; otherwise
 * u = r >>> 1 (32-bit), and while u + m - (u % bound) is negative as a 32-bit int, u = nextInt() >>> 1; it returns
 * u % bound.
 *
 * <p>Deterministic: the same token file, block size and seed give the same sequence of batches, and {@link #seek} to
 * a saved {@link #position()} continues exactly as an uninterrupted reader would. Not thread-safe.
 */
public final class PackedBlocks {
    private final TokenFile tokens;
    private final int blockSize;
    private final long seed;
    private final int blocks;
    private long epoch;
    private int offset;
    private int[] order;

    /**
     * @throws DataException "CORPUS: N tokens, fewer than one block of T" when the corpus has fewer than blockSize tokens
     */
    public PackedBlocks(TokenFile tokens, int blockSize, long seed) {
        if (blockSize < 2) throw new IllegalArgumentException("block size must be >= 2, got " + blockSize);
        long n = tokens.tokenCount() / blockSize;
        if (n == 0) throw new DataException(tokens.corpus() + ": " + tokens.tokenCount() + " tokens, fewer than one block of " + blockSize);
        if (n > Integer.MAX_VALUE - 8) throw new DataException(tokens.corpus() + ": " + n + " blocks of " + blockSize + ", too many for one epoch's order");
        this.tokens = tokens;
        this.blockSize = blockSize;
        this.seed = seed;
        this.blocks = (int) n;
        this.order = order(blocks, seed, 0);
    }

    /** Epoch e's order of the n blocks (see the class comment for the exact recipe). */
    public static int[] order(int n, long seed, long epoch) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        java.util.SplittableRandom rng = new java.util.SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (epoch + 1)));
        for (int i = n - 1; i >= 1; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    /** The number of whole blocks in the token stream (the remainder is dropped). */
    public long blocksPerEpoch() {
        return blocks;
    }

    /** Tokens per block. */
    public int blockSize() {
        return blockSize;
    }

    /** The seed of the per-epoch shuffles. */
    public long seed() {
        return seed;
    }

    /** Where the next block comes from; offset is always less than blocksPerEpoch(). */
    public DataPosition position() {
        return new DataPosition(epoch, offset);
    }

    /** Total blocks consumed since epoch 0, offset 0. */
    public long blocksConsumed() {
        return epoch * blocks + offset;
    }

    /** Continues from p (as returned by position(); an offset of blocksPerEpoch() means the start of the next epoch). */
    public void seek(DataPosition p) {
        if (p.offset() > blocks) throw new IllegalArgumentException("data position offset " + p.offset() + " is past the " + blocks + " blocks of an epoch");
        long e = p.epoch() + (p.offset() == blocks ? 1 : 0);
        if (e != epoch) order = order(blocks, seed, e);
        epoch = e;
        offset = (int) (p.offset() % blocks);
    }

    /**
     * The next batchSize blocks, row-major (batchSize * blockSize ids), advancing the position. A batch may straddle
     * epochs: it continues with the next epoch's order.
     */
    public long[] nextBatch(int batchSize) {
        return nextBatch(batchSize, 0, 1);
    }

    /**
     * Shard `shard` of `shards` of the next batchSize blocks (data parallel): rows [shard * b, (shard + 1) * b) of
     * what {@link #nextBatch(int)} would return, b = batchSize / shards; the position advances by the whole
     * batchSize, so every rank stays at the same position and shards 0..shards-1 together are the one-process batch.
     */
    public long[] nextBatch(int batchSize, int shard, int shards) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (shards < 1 || shard < 0 || shard >= shards) throw new IllegalArgumentException("shard " + shard + " of " + shards);
        if (batchSize % shards != 0) throw new IllegalArgumentException("batch size " + batchSize + " does not split into " + shards + " shards");
        int rows = batchSize / shards;
        int first = shard * rows;
        long[] ids = new long[Math.multiplyExact(rows, blockSize)];
        for (int row = 0; row < batchSize; row++) {
            if (row >= first && row < first + rows) tokens.copyTokens((long) order[offset] * blockSize, blockSize, ids, (row - first) * blockSize);
            if (++offset == blocks) {
                epoch++;
                offset = 0;
                order = order(blocks, seed, epoch);
            }
        }
        return ids;
    }
}
