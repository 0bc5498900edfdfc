package adept.cli;

import adept.eval.Perplexity;
import adept.io.checkpoint.Checkpoint;
import adept.io.data.CorpusItem;
import adept.io.data.CorpusReader;
import adept.io.data.DataException;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Loss and perplexity of a model on a text or JSON Lines corpus. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Token-weighted mean next-token cross-entropy (loss) and perplexity = exp(loss) of a model on a corpus.",
                "DATA is plain text (one item) or JSON Lines (.jsonl, .jsonl.gz) of {\"text\": ...} or {\"instruction\": ..., \"output\": ...}"
                        + " objects; for instructions only the answer tokens count. Items longer than --max-length are cut into windows."})
public final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "corpus: .txt, .jsonl or .jsonl.gz")
    Path data;

    @Option(names = "--batch-size", defaultValue = "4", paramLabel = "N", description = "sequences per forward pass (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--max-length", paramLabel = "N",
            description = "tokens per sequence; longer items are split into windows (default: min(max_position_embeddings, 1024))")
    Integer maxLength;

    @Option(names = "--json", paramLabel = "FILE", description = "also write the results to FILE as JSON")
    Path json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (batchSize < 1) throw new CommandLine.ParameterException(spec.commandLine(), "--batch-size must be >= 1, got " + batchSize);
        // Cheap checks first: options and the corpus, before the weights are read.
        Checkpoint checkpoint = Checkpoint.open(modelOptions.model);
        ModelConfig config = checkpoint.config().modelConfig();
        int length = maxLength != null ? maxLength : Math.min(config.maxPositionEmbeddings(), 1024);
        if (length < 2) throw new CommandLine.ParameterException(spec.commandLine(), "--max-length must be >= 2, got " + length);
        if (length > config.maxPositionEmbeddings()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--max-length " + length
                    + " exceeds the model's max_position_embeddings " + config.maxPositionEmbeddings());
        }
        List<CorpusItem> items = CorpusReader.read(data);

        PrintWriter out = spec.commandLine().getOut();
        Perplexity.Result result;
        List<Example> examples;
        try (CausalLM model = checkpoint.loadModel(modelOptions.dtype(), modelOptions.device())) {
            long padId;
            try (Tokenizer tokenizer = Tokenizer.load(modelOptions.model)) {
                examples = Examples.tokenize(data, items, tokenizer, length, Examples.LongItems.SPLIT, 0);
                padId = tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
            }
            for (Example e : examples) {
                for (long id : e.ids()) {
                    if (id < 0 || id >= config.vocabSize()) {
                        throw new DataException(data + ":" + e.line() + ": token id " + id + " is outside the model's vocabulary of "
                                + config.vocabSize() + " (does the tokenizer belong to this model?)");
                    }
                }
            }
            if (padId >= config.vocabSize()) padId = 0;  // padding is masked out; any valid id will do
            int batches = (examples.size() + batchSize - 1) / batchSize;
            ProgressBar bar = new ProgressBar("eval", batches);
            result = Perplexity.evaluate(model, examples, batchSize, padId,
                    (batch, total, lossSum, tokens) -> bar.step(String.format(Locale.ROOT, "loss %.4f", lossSum / Math.max(tokens, 1))));
            bar.done();
        }
        out.printf(Locale.ROOT, "loss        %.6f%n", result.loss());
        out.printf(Locale.ROOT, "perplexity  %.4f%n", result.perplexity());
        out.printf(Locale.ROOT, "tokens      %d%n", result.tokens());
        out.printf(Locale.ROOT, "items       %d%n", items.size());
        out.printf(Locale.ROOT, "sequences   %d (at most %d tokens each)%n", result.examples(), length);
        out.printf(Locale.ROOT, "time        %.2f s (%.1f tokens/s)%n", result.seconds(), result.tokensPerSecond());
        out.flush();
        if (json != null) writeJson(result, items.size(), length);
        return 0;
    }

    private void writeJson(Perplexity.Result result, int items, int length) {
        JsonObject o = new JsonObject();
        o.addProperty("model", modelOptions.model.toString());
        o.addProperty("data", data.toString());
        o.addProperty("loss", result.loss());
        o.addProperty("perplexity", result.perplexity());
        o.addProperty("tokens", result.tokens());
        o.addProperty("items", items);
        o.addProperty("sequences", result.examples());
        o.addProperty("max_length", length);
        o.addProperty("batch_size", batchSize);
        o.addProperty("dtype", modelOptions.dtype().toString());
        o.addProperty("device", modelOptions.device().toString());
        o.addProperty("seconds", result.seconds());
        o.addProperty("tokens_per_second", result.tokensPerSecond());
        String text = new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(o) + "\n";
        try {
            writeAtomically(json, text);
        } catch (IOException e) {
            throw AdeptCommand.ioError("write", json, e);
        }
    }

    /** Writes text to a temporary sibling, fsyncs it, renames it over target and fsyncs the folder. */
    static void writeAtomically(Path target, String text) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path dir = absolute.getParent();
        Files.createDirectories(dir);
        Path temp = Files.createTempFile(dir, "." + absolute.getFileName() + ".", ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
                while (buffer.hasRemaining()) channel.write(buffer);
                channel.force(true);
            }
            try {
                Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, absolute, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException ignored) {
            // Some file systems cannot fsync a directory; the file itself is durable.
        }
    }
}
