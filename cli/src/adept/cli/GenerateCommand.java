package adept.cli;

import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.Generator;
import adept.nn.Sampler;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Text generation for a quick look at a model: greedy, or temperature + top-p sampling. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Continue a prompt with a model, streaming the text to stdout as tokens arrive; tokens/s goes to stderr.",
                "Greedy by default (--temperature 0); stops at an EOS token of the tokenizer or after --max-new-tokens."})
public final class GenerateCommand implements Callable<Integer> {
    /** Prompt tokens decoded with the new ones, so the first new token is spaced as it would be mid-text. */
    private static final int CONTEXT_TOKENS = 4;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "the text to continue")
    String prompt;

    /** --max-new-tokens when not given: this many, or the model's context when that is shorter. */
    static final int DEFAULT_MAX_NEW_TOKENS = 128;

    @Option(names = "--max-new-tokens", paramLabel = "N",
            description = "most tokens to generate, at most the model's max_position_embeddings (default: 128, or the context when shorter)")
    Integer maxNewTokensOption;

    @Option(names = "--temperature", defaultValue = "0", paramLabel = "T", description = "sampling temperature; 0 = greedy (default: ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1", paramLabel = "P",
            description = "nucleus sampling: keep the most likely tokens whose probability reaches P (default: ${DEFAULT-VALUE})")
    double topP;

    @Option(names = "--seed", paramLabel = "S", description = "random seed for sampling (default: a random one, printed on stderr)")
    Long seed;

    @Option(names = "--no-bos", description = "do not start the prompt with the BOS token even where the tokenizer adds one")
    boolean noBos;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        CommandLine cli = spec.commandLine();
        if (maxNewTokensOption != null && maxNewTokensOption < 0) {
            throw new CommandLine.ParameterException(cli, "--max-new-tokens must be >= 0, got " + maxNewTokensOption);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new CommandLine.ParameterException(cli, "--temperature must be a finite number >= 0, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) throw new CommandLine.ParameterException(cli, "--top-p must be in (0, 1], got " + topP);
        long actualSeed = seed != null ? seed : new java.util.Random().nextLong();
        PrintWriter out = cli.getOut();
        PrintWriter err = cli.getErr();

        try (CausalLM model = modelOptions.load(); Tokenizer tokenizer = Tokenizer.load(modelOptions.model)) {
            int context = model.config().maxPositionEmbeddings();
            int maxNewTokens = maxNewTokensOption != null ? maxNewTokensOption : Math.min(DEFAULT_MAX_NEW_TOKENS, context);
            if (maxNewTokens > context) {
                // Beyond the context the model sees only the latest tokens (the cache restarts), and a huge limit
                // would hold every token and its text in memory: the context bounds what one call may ask for.
                throw new CommandLine.ParameterException(cli, "--max-new-tokens " + maxNewTokens + " exceeds the model's context of "
                        + context + " tokens (max_position_embeddings); ask for at most " + context);
            }
            boolean bos = !noBos && tokenizer.addsBosByDefault() && tokenizer.bosId().isPresent();
            long[] promptIds = tokenizer.encode(prompt, bos, false);
            if (promptIds.length == 0) {
                throw new CommandLine.ParameterException(cli, "the prompt has no tokens (and no BOS token is added): nothing to continue");
            }
            long[] eosIds = tokenizer.eosIds();
            if (eosIds.length == 0) err.println("adept: warning: the tokenizer has no EOS token; generating --max-new-tokens tokens");
            int modelVocab = model.config().vocabSize();
            for (long id : promptIds) {
                if (id >= modelVocab) {
                    throw new CommandLine.ParameterException(cli, "prompt token id " + id + " is outside the model's vocabulary of "
                            + modelVocab + " (does the tokenizer belong to this model?)");
                }
            }
            if (temperature > 0 && seed == null) err.println("seed " + actualSeed);
            Sampler sampler = new Sampler(temperature, topP, actualSeed);
            Stream stream = new Stream(tokenizer, Arrays.copyOfRange(promptIds, Math.max(0, promptIds.length - CONTEXT_TOKENS), promptIds.length),
                    eosIds, out);
            long start = System.nanoTime();
            long[] generated = new Generator(model).generate(promptIds, maxNewTokens, sampler, stream::isStop, stream::accept);
            double seconds = (System.nanoTime() - start) / 1e9;
            stream.finish();
            boolean stopped = generated.length > 0 && stream.isStop((int) generated[generated.length - 1]);
            err.printf(Locale.ROOT, "%d tokens in %.2f s (%.1f tokens/s)%s%n", generated.length, seconds,
                    generated.length / Math.max(seconds, 1e-9), stopped ? ", stopped at EOS" : "");
            err.flush();
        }
        return 0;
    }

    /**
     * Loads the model and runs a kernel on its device, before any tokenizer is loaded. On the GPU machine
     * (pip libtorch with CUDA), loading the tokenizers native library before libtorch crashes the JVM, and
     * loading it before the first CUDA kernel makes later CUDA calls fail with "invalid resource handle".
     */
    /**
     * Prints the text of the new tokens as they arrive: decodes them all (after a few prompt tokens) each
     * time and prints what was not printed yet, holding back an incomplete character (U+FFFD at the end).
     */
    static final class Stream {
        private final Tokenizer tokenizer;
        private final long[] context;
        private final String contextText;
        private final long[] eosIds;
        private final PrintWriter out;
        private long[] ids = new long[16];
        private int count;
        private String printed = "";

        Stream(Tokenizer tokenizer, long[] context, long[] eosIds, PrintWriter out) {
            this.tokenizer = tokenizer;
            this.context = context;
            this.contextText = tokenizer.decode(context, true);
            this.eosIds = eosIds;
            this.out = out;
        }

        boolean isStop(int token) {
            for (long id : eosIds) if (id == token) return true;
            return false;
        }

        void accept(int token) {
            // EOS is not text; ids beyond the tokenizer (a padded embedding table) have no text either.
            if (isStop(token) || token < 0 || token >= tokenizer.vocabSize()) return;
            if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
            ids[count++] = token;
            print(false);
        }

        void finish() {
            print(true);
            if (!printed.isEmpty() && !printed.endsWith("\n")) out.println();
            out.flush();
        }

        /** The text of the new tokens so far. */
        String text() {
            long[] all = Arrays.copyOf(context, context.length + count);
            System.arraycopy(ids, 0, all, context.length, count);
            String full = tokenizer.decode(all, true);
            return full.startsWith(contextText) ? full.substring(contextText.length())
                    : tokenizer.decode(Arrays.copyOf(ids, count), true);
        }

        private void print(boolean last) {
            String text = text();
            if (!last && text.endsWith("\uFFFD")) return;  // a character split across tokens: wait for the rest
            int common = 0;
            int limit = Math.min(text.length(), printed.length());
            while (common < limit && text.charAt(common) == printed.charAt(common)) common++;
            // Normally text extends printed; if a decoder rewrote earlier text, print from where they differ.
            if (text.length() > common) {
                out.print(text.substring(common));
                out.flush();
            }
            printed = text;
        }
    }
}
