package adept.cli;

import adept.io.checkpoint.Checkpoint;
import adept.io.checkpoint.ConfigJson;
import adept.io.checkpoint.SaveOptions;
import adept.io.data.DataException;
import adept.io.tokenizer.Tokenizer;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.DType;
import adept.tensor.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** A randomly initialised Llama-architecture model folder around a tokenizer: the start of pretraining from scratch. */
@Command(name = "init", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes a randomly initialised Llama model (Hugging Face layout, init N(0, 0.02), norms 1) with the tokenizer of",
                "--tokenizer, for pretraining from scratch with `adept train --mode full`. The vocabulary size is the tokenizer's."})
public final class InitCommand implements Callable<Integer> {
    @Option(names = "--tokenizer", required = true, paramLabel = "DIR", description = "folder with tokenizer.json (+ tokenizer_config.json)")
    Path tokenizer;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "model folder to write")
    Path out;
    @Option(names = "--hidden", defaultValue = "256", description = "hidden size (default: ${DEFAULT-VALUE})")
    int hidden;
    @Option(names = "--layers", defaultValue = "6", description = "decoder layers (default: ${DEFAULT-VALUE})")
    int layers;
    @Option(names = "--heads", defaultValue = "8", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads;
    @Option(names = "--kv-heads", defaultValue = "4", description = "key/value heads (default: ${DEFAULT-VALUE})")
    int kvHeads;
    @Option(names = "--intermediate", defaultValue = "688", description = "MLP intermediate size (default: ${DEFAULT-VALUE})")
    int intermediate;
    @Option(names = "--context", defaultValue = "512", description = "max_position_embeddings (default: ${DEFAULT-VALUE})")
    int context;
    @Option(names = "--tie-embeddings", description = "share the input embedding with the LM head")
    boolean tie;
    @Option(names = "--seed", defaultValue = "1234", description = "initialisation seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--force", description = "replace --out if it exists")
    boolean force;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        if (hidden < 1 || layers < 1 || heads < 1 || kvHeads < 1 || intermediate < 1 || context < 2) {
            throw usage("sizes must be positive and --context >= 2");
        }
        if (hidden % heads != 0) throw usage("--hidden " + hidden + " is not a multiple of --heads " + heads);
        if (heads % kvHeads != 0) throw usage("--heads " + heads + " is not a multiple of --kv-heads " + kvHeads);
        if (Files.exists(out) && !force) throw usage("--out " + out + " exists; pass --force to replace it");
        int vocab;
        try (Tokenizer t = Tokenizer.load(tokenizer)) {
            vocab = t.vocabSize();
        }
        if (vocab < 2) throw new DataException(tokenizer + ": the tokenizer has " + vocab + " tokens");
        checkFits(vocab);
        ModelConfig config = ModelConfig.builder(Architecture.LLAMA).vocabSize(vocab).hiddenSize(hidden)
                .intermediateSize(intermediate).numHiddenLayers(layers).numAttentionHeads(heads).numKeyValueHeads(kvHeads)
                .rmsNormEps(1e-5).maxPositionEmbeddings(context).tieWordEmbeddings(tie).build();
        SaveOptions options = SaveOptions.defaults().withConfig(ConfigJson.of(config, DType.FLOAT32));
        for (String name : Checkpoint.COMPANION_FILES) {
            Path f = tokenizer.resolve(name);
            if (Files.isRegularFile(f)) options = options.withExtraFile(name, f);
        }
        try (CausalLM model = CausalLM.random(config, seed, 0.02, DType.FLOAT32, Device.CPU)) {
            Checkpoint.save(model, out, options);
        }
        spec.commandLine().getOut().printf(Locale.ROOT, "wrote %s: Llama, vocab %d, hidden %d, %d layers, %d/%d heads, intermediate %d, "
                + "context %d%s, %,d parameters%n", out, vocab, hidden, layers, heads, kvHeads, intermediate, context, tie ? ", tied" : "",
                config.parameterCount());
        spec.commandLine().getOut().flush();
        return 0;
    }

    /**
     * Refuses a model that cannot be held (float32 weights over the machine's memory) before libtorch is asked to
     * allocate it: a failed native allocation of that size can take the JVM down instead of throwing.
     */
    private void checkFits(int vocab) {
        double headDim = (double) hidden / heads;
        double embeddings = (double) vocab * hidden * (tie ? 1 : 2);
        double perLayer = 2.0 * hidden * heads * headDim + 2.0 * hidden * kvHeads * headDim + 3.0 * hidden * intermediate + 2.0 * hidden;
        double parameters = embeddings + layers * perLayer + hidden;
        double bytes = parameters * DType.FLOAT32.byteSize();
        long total = physicalMemory();
        if (bytes <= total) return;
        String options = layers * perLayer >= embeddings ? "--layers " + layers + ", --hidden " + hidden + " or --intermediate " + intermediate
                : "--hidden " + hidden + " (the tokenizer has " + vocab + " tokens)";
        throw usage(String.format(Locale.ROOT, "%s: the model would have %.3g parameters (%.1f GiB as float32), more than this machine's "
                + "%.1f GiB of memory; lower them", options, parameters, bytes / (1L << 30), total / (double) (1L << 30)));
    }

    private static long physicalMemory() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }
}
