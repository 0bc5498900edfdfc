package adept.train;

import adept.io.data.Batch;
import adept.io.data.CorpusItem;
import adept.io.data.CorpusReader;
import adept.io.data.DataException;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.data.PackedBlocks;
import adept.io.data.TokenFile;
import adept.io.tokenizer.Tokenizer;
import adept.tensor.Device;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * Everything a run reads, checked before any training starts: the domain corpus as a cached token file
 * packed into blocks, the probe corpus as examples (adept probe's formats: padding never counts, an
 * instruction item counts its answer only), and the held-out corpus cut into block-sized windows.
 */
public final class TrainingInputs implements AutoCloseable {
    /** Longest probe item, as adept probe's default cap. */
    static final int PROBE_MAX_LENGTH = 2048;

    final TokenFile tokens;
    final PackedBlocks blocks;
    final List<Example> probe;
    final List<Example> eval;
    final long padId;

    private TrainingInputs(TokenFile tokens, PackedBlocks blocks, List<Example> probe, List<Example> eval, long padId) {
        this.tokens = tokens;
        this.blocks = blocks;
        this.probe = probe;
        this.eval = eval;
        this.padId = padId;
    }

    static TrainingInputs read(TrainSettings s, Path modelDir, Tokenizer tokenizer, int blockSize, int maxPositions, long vocab,
                               Path cacheDir, LongConsumer tokenizeProgress) {
        Path data = s.inputs().data();
        List<Example> probe = null;
        if (s.inputs().probe() != null) {
            Path file = s.inputs().probe();
            List<CorpusItem> items = CorpusReader.read(file);
            // Items longer than the context are cut into windows (adept probe refuses them: probing layers is
            // done once and should see whole items; a training run should not stop over one long paragraph).
            probe = Examples.tokenize(file, items, tokenizer, Math.min(maxPositions, PROBE_MAX_LENGTH), Examples.LongItems.SPLIT, 0);
            Examples.requireInVocabulary(file, probe, vocab);
        }
        List<Example> eval = null;
        if (s.inputs().eval() != null) {
            Path file = s.inputs().eval();
            eval = Examples.tokenize(file, CorpusReader.read(file), tokenizer, blockSize, Examples.LongItems.SPLIT, s.output().evalTokens());
            Examples.requireInVocabulary(file, eval, vocab);
        }
        TokenFile tokens = TokenFile.build(data, tokenizer, modelDir, cacheDir, tokenizeProgress);
        long outside = firstOutside(tokens, vocab);
        if (outside != Long.MIN_VALUE && tokens.reused()) {
            // The cache was made by this tokenizer (its fingerprint is in the key): ids it cannot have written are the cache's damage.
            String damage = tokens.binFile() + " holds token id " + outside + ", outside the vocabulary of " + vocab;
            tokens.discard();
            tokens = TokenFile.build(data, tokenizer, modelDir, cacheDir, tokenizeProgress);
            if (tokens.rebuiltBecause().isEmpty()) tokens.rebuiltBecauseOf(damage);
            outside = firstOutside(tokens, vocab);
        }
        try {
            if (outside != Long.MIN_VALUE) {
                throw new DataException(data + ": tokenized to id " + outside + ", outside the model's vocabulary of " + vocab
                        + " (does the tokenizer belong to this model?)");
            }
            PackedBlocks blocks = new PackedBlocks(tokens, blockSize, s.inputs().seed());
            long padId = Examples.paddingId(tokenizer, vocab);
            return new TrainingInputs(tokens, blocks, probe, eval, padId);
        } catch (RuntimeException e) {
            tokens.close();
            throw e;
        }
    }

    /** The first token id outside [0, vocab), or Long.MIN_VALUE when every id is inside. */
    private static long firstOutside(TokenFile tokens, long vocab) {
        long[] chunk = new long[1 << 16];
        for (long start = 0; start < tokens.tokenCount(); start += chunk.length) {
            int n = (int) Math.min(chunk.length, tokens.tokenCount() - start);
            tokens.copyTokens(start, n, chunk, 0);
            for (int i = 0; i < n; i++) if (chunk[i] < 0 || chunk[i] >= vocab) return chunk[i];
        }
        return Long.MIN_VALUE;
    }

    /** Consecutive examples in file order, right-padded (deterministic); at most cap batches (0 = all). */
    static List<Batch> batches(List<Example> examples, int batchSize, int cap, long padId, Device device) {
        List<Batch> out = new ArrayList<>();
        for (int start = 0; start < examples.size(); start += batchSize) {
            if (cap > 0 && out.size() >= cap) break;
            out.add(Batch.of(examples.subList(start, Math.min(examples.size(), start + batchSize)), padId, device));
        }
        return out;
    }

    @Override
    public void close() {
        tokens.close();
    }
}
