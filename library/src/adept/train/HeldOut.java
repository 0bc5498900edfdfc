package adept.train;

import adept.eval.Perplexity;
import adept.io.checkpoint.Checkpoint;
import adept.io.data.CorpusReader;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Held-out loss of a saved model on text files: what a sweep reads as forgetting and learning. */
public final class HeldOut {
    private HeldOut() {}

    /**
     * How the files are read: sequences per forward pass, tokens per sequence (null: min(1024, the model's context);
     * longer items split into windows) and the target tokens taken from the start of each file (0: all).
     */
    public record Settings(int batchSize, Integer maxLength, long maxTokens) {
        public static final Settings DEFAULT = new Settings(8, null, 0);

        public Settings {
            if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            if (maxLength != null && maxLength < 2) throw new IllegalArgumentException("max length must be >= 2, got " + maxLength);
            if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        }
    }

    /** A held-out file's name without the corpus extensions (general_heldout.jsonl.gz -> general_heldout), for tables. */
    public static String label(Path file) {
        return file.getFileName().toString().replaceFirst("\\.gz$", "").replaceFirst("\\.(jsonl|json|txt)$", "");
    }

    /** Receives each file's progress: its batches done of all. */
    public interface Progress {
        /** After each batch of file: batches done, of all, and the mean loss so far. */
        void batch(Path file, int done, int batches, double meanLoss);
    }

    /** The mean next-token loss of the model in dir on each file (float32 on device), in order. */
    public static List<Perplexity.Result> evaluate(Path dir, List<Path> files, Settings settings, Device device, Progress progress) {
        Checkpoint checkpoint = Checkpoint.open(dir);
        ModelConfig config = checkpoint.config().modelConfig();
        int length = settings.maxLength() != null ? settings.maxLength() : Math.min(config.maxPositionEmbeddings(), 1024);
        if (length > config.maxPositionEmbeddings()) {
            throw new TrainException("evaluate.max_length " + length + " exceeds the context of " + dir + " (max_position_embeddings "
                    + config.maxPositionEmbeddings() + ")");
        }
        List<Perplexity.Result> out = new ArrayList<>();
        try (CausalLM model = checkpoint.loadModel(DType.FLOAT32, device);
             Tokenizer tokenizer = Tokenizer.load(dir)) {
            long padId = Examples.paddingId(tokenizer, config.vocabSize());
            for (Path file : files) {
                List<Example> examples = Examples.tokenize(file, CorpusReader.read(file), tokenizer, length, Examples.LongItems.SPLIT,
                        settings.maxTokens());
                Examples.requireInVocabulary(file, examples, config.vocabSize());
                out.add(Perplexity.evaluate(model, examples, settings.batchSize(), padId, progress == null ? null
                        : (b, total, lossSum, tokens) -> progress.batch(file, b, total, lossSum / Math.max(tokens, 1))));
            }
        }
        return out;
    }
}
