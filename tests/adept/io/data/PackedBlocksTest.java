package adept.io.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import adept.io.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PackedBlocksTest {
    static final int T = 8;

    @TempDir
    static Path dir;
    static Tokenizer tokenizer;
    static TokenFile tokens;

    @BeforeAll
    static void buildTokens() throws IOException {
        tokenizer = DataFixtures.tokenizer(dir.resolve("tokenizer"));
        Path corpus = DataFixtures.jsonl(dir.resolve("c.jsonl"), DataFixtures.sentences(12, 7));
        tokens = TokenFile.build(corpus, tokenizer, dir.resolve("tokenizer"), dir.resolve("cache"), null);
    }

    @AfterAll
    static void close() {
        tokens.close();
        tokenizer.close();
    }

    private static long[] block(int i) {
        long[] ids = new long[T];
        tokens.copyTokens((long) i * T, T, ids, 0);
        return ids;
    }

    @Test
    void blocksAreTheWholeWindowsRemainderDropped() {
        PackedBlocks blocks = new PackedBlocks(tokens, T, 1);
        assertEquals(tokens.tokenCount() / T, blocks.blocksPerEpoch());
        int n = (int) blocks.blocksPerEpoch();
        int[] order = PackedBlocks.order(n, 1, 0);
        long[] batch = blocks.nextBatch(n);
        for (int row = 0; row < n; row++) assertArrayEquals(block(order[row]), Arrays.copyOfRange(batch, row * T, (row + 1) * T));
        assertEquals(new DataPosition(1, 0), blocks.position());
    }

    @Test
    void shardsOfABatchAreItsRowsAndEveryShardAdvancesByTheWholeBatch() {
        PackedBlocks one = new PackedBlocks(tokens, T, 5);
        PackedBlocks[] ranks = {new PackedBlocks(tokens, T, 5), new PackedBlocks(tokens, T, 5), new PackedBlocks(tokens, T, 5)};
        int batch = 6;  // 3 ranks x 2 blocks; a few batches straddle epochs
        for (int b = 0; b < 3 * one.blocksPerEpoch() / batch + 2; b++) {
            long[] whole = one.nextBatch(batch);
            for (int r = 0; r < ranks.length; r++) {
                long[] shard = ranks[r].nextBatch(batch, r, ranks.length);
                assertArrayEquals(Arrays.copyOfRange(whole, r * 2 * T, (r + 1) * 2 * T), shard, "batch " + b + ", rank " + r);
                assertEquals(one.position(), ranks[r].position());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> one.nextBatch(4, 0, 3));
        assertThrows(IllegalArgumentException.class, () -> one.nextBatch(4, 2, 2));
    }

    @Test
    void orderIsTheDocumentedShuffle() {
        // From an independent Python implementation of the recipe in PackedBlocks' class comment.
        assertArrayEquals(new int[] {4, 3, 7, 9, 1, 5, 2, 8, 0, 6}, PackedBlocks.order(10, 42, 0));
        assertArrayEquals(new int[] {5, 7, 4, 0, 9, 6, 1, 3, 8, 2}, PackedBlocks.order(10, 42, 1));
        assertArrayEquals(new int[] {0, 4, 12, 6, 2, 5, 9, 8, 11, 10, 1, 3, 7}, PackedBlocks.order(13, -7, 5));
    }

    @Test
    void everyBlockAppearsExactlyOncePerEpochAndBatchesStraddleEpochs() {
        PackedBlocks blocks = new PackedBlocks(tokens, T, 99);
        int n = (int) blocks.blocksPerEpoch();
        List<long[]> expected = new ArrayList<>();
        for (int e = 0; e < 3; e++) {
            int[] order = PackedBlocks.order(n, 99, e);
            int[] sorted = order.clone();
            Arrays.sort(sorted);
            for (int i = 0; i < n; i++) assertEquals(i, sorted[i], "a permutation");
            for (int i : order) expected.add(block(i));
        }
        assertFalse(Arrays.equals(PackedBlocks.order(n, 99, 0), PackedBlocks.order(n, 99, 1)), "epochs are shuffled differently");
        int batch = 3;
        while (n % batch == 0) batch++; // not a divisor of n, so some batches straddle epochs
        List<long[]> got = new ArrayList<>();
        while (got.size() + batch <= expected.size()) {
            long[] ids = blocks.nextBatch(batch);
            for (int r = 0; r < batch; r++) got.add(Arrays.copyOfRange(ids, r * T, (r + 1) * T));
        }
        for (int i = 0; i < got.size(); i++) assertArrayEquals(expected.get(i), got.get(i), "block " + i);
        assertEquals(got.size(), blocks.blocksConsumed());
        assertEquals(new DataPosition(got.size() / n, got.size() % n), blocks.position());
    }

    @Test
    void sameSeedSameSequenceAndSeekResumesExactly() {
        PackedBlocks uninterrupted = new PackedBlocks(tokens, T, 5);
        List<long[]> batches = new ArrayList<>();
        DataPosition afterThree = null;
        for (int b = 0; b < 7; b++) {
            batches.add(uninterrupted.nextBatch(4));
            if (b == 2) afterThree = uninterrupted.position();
        }
        PackedBlocks again = new PackedBlocks(tokens, T, 5);
        for (int b = 0; b < 7; b++) assertArrayEquals(batches.get(b), again.nextBatch(4), "same seed, batch " + b);

        PackedBlocks resumed = new PackedBlocks(tokens, T, 5);
        resumed.seek(afterThree);
        assertEquals(12, resumed.blocksConsumed());
        for (int b = 3; b < 7; b++) assertArrayEquals(batches.get(b), resumed.nextBatch(4), "resumed, batch " + (b + 1));
        assertEquals(uninterrupted.position(), resumed.position());

        PackedBlocks otherSeed = new PackedBlocks(tokens, T, 6);
        assertFalse(Arrays.equals(batches.get(0), otherSeed.nextBatch(4)));
    }

    @Test
    void seekToTheEndOfAnEpochIsTheStartOfTheNext() {
        PackedBlocks blocks = new PackedBlocks(tokens, T, 3);
        long n = blocks.blocksPerEpoch();
        blocks.seek(new DataPosition(0, n));
        assertEquals(new DataPosition(1, 0), blocks.position());
        assertArrayEquals(block(PackedBlocks.order((int) n, 3, 1)[0]), blocks.nextBatch(1));
        assertThrows(IllegalArgumentException.class, () -> blocks.seek(new DataPosition(0, n + 1)));
    }

    @Test
    void aCorpusShorterThanOneBlockIsAnError() {
        long count = tokens.tokenCount();
        int big = (int) count + 1;
        String message = assertThrows(DataException.class, () -> new PackedBlocks(tokens, big, 0)).getMessage();
        assertEquals(tokens.corpus() + ": " + count + " tokens, fewer than one block of " + big, message);
        new PackedBlocks(tokens, (int) count, 0); // exactly one block is enough
    }
}
