package adept.io.data;

/**
 * Where a {@link PackedBlocks} reader stands: epoch (0-based) and offset, the blocks of that epoch's order already
 * consumed ({@code 0 <= offset < blocksPerEpoch}). Saved with a checkpoint to resume on exactly the next block.
 */
public record DataPosition(long epoch, long offset) {
    public DataPosition {
        if (epoch < 0 || offset < 0) throw new IllegalArgumentException("data position must not be negative: epoch " + epoch + ", offset " + offset);
    }
}
