package adept.train;

import adept.io.data.DataException;
import adept.io.data.PackedBlocks;

/**
 * Training blocks over a token stream held in memory, in exactly {@link PackedBlocks}' order (the windows
 * [i*T, (i+1)*T), the remainder dropped, each epoch shuffled by {@link PackedBlocks#order}), so that the same tokens
 * and seed give the same batches as a token file does.
 */
final class TokenBlocks implements BatchSource {
    private final long[] tokens;
    private final int blockSize;
    private final long seed;
    private final int blocks;
    private long epoch;
    private int offset;
    private int[] order;

    TokenBlocks(long[] tokens, int blockSize, long seed) {
        long n = tokens.length / blockSize;
        if (n == 0) throw new DataException("the training data in memory: " + tokens.length + " tokens, fewer than one block of " + blockSize);
        this.tokens = tokens;
        this.blockSize = blockSize;
        this.seed = seed;
        this.blocks = (int) n;
        this.order = PackedBlocks.order(blocks, seed, 0);
    }

    long blocksPerEpoch() {
        return blocks;
    }

    @Override
    public long[] nextBatch(int batchSize, int shard, int shards) {
        int rows = batchSize / shards;
        int first = shard * rows;
        long[] ids = new long[Math.multiplyExact(rows, blockSize)];
        for (int row = 0; row < batchSize; row++) {
            if (row >= first && row < first + rows) System.arraycopy(tokens, order[offset] * blockSize, ids, (row - first) * blockSize, blockSize);
            if (++offset == blocks) {
                epoch++;
                offset = 0;
                order = PackedBlocks.order(blocks, seed, epoch);
            }
        }
        return ids;
    }
}
