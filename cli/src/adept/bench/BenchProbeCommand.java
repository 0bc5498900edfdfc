package adept.bench;

import adept.io.data.Batch;
import adept.io.data.Example;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.probe.LayerImportance;
import adept.probe.LayerProbe;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Cached layer probing against the plain M+1 full passes, on the same model and batches, interleaved. */
@Command(name = "probe", mixinStandardHelpOptions = true,
        description = "Time cached layer probing against M+1 full forward passes (target: cached <= 0.6 of plain).")
public final class BenchProbeCommand implements Callable<Integer> {
    // 28 layers as Qwen3-1.7B (the paper's model); vocab/hidden chosen so the LM head costs
    // about 3 layers, as in the paper's models: the head runs M+1 times in both methods.
    @Option(names = "--layers", defaultValue = "28", description = "decoder layers (default: ${DEFAULT-VALUE})")
    int layers;

    @Option(names = "--hidden", defaultValue = "256", description = "hidden size (default: ${DEFAULT-VALUE})")
    int hidden;

    @Option(names = "--vocab", defaultValue = "8192", description = "vocabulary size (default: ${DEFAULT-VALUE})")
    int vocab;

    @Option(names = "--batches", defaultValue = "2", description = "probe batches (default: ${DEFAULT-VALUE})")
    int batches;

    @Option(names = "--batch-size", defaultValue = "8", description = "rows per batch (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--seq", defaultValue = "128", description = "tokens per row (default: ${DEFAULT-VALUE})")
    int seq;

    @Option(names = "--rounds", defaultValue = "3", description = "interleaved rounds; medians are reported (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda[:N] (default: ${DEFAULT-VALUE})")
    String device;

    @Override
    public Integer call() {
        Device dev = Device.parse(device);
        ModelConfig config = ModelConfig.builder(Architecture.LLAMA).vocabSize(vocab).hiddenSize(hidden)
                .intermediateSize(hidden * 43 / 16).numHiddenLayers(layers).numAttentionHeads(8).numKeyValueHeads(4)
                .rmsNormEps(1e-5).maxPositionEmbeddings(Math.max(seq, 128)).build();
        System.out.printf("model: Llama-style, %d layers, hidden %d, vocab %d (%,d parameters); probe: %d batches of %d x %d tokens; %s, %d threads%n",
                layers, hidden, vocab, config.parameterCount(), batches, batchSize, seq, dev, Torch.numThreads());
        try (CausalLM model = CausalLM.random(config, 0, 0.02, DType.FLOAT32, dev); Scope scope = Scope.open()) {
            List<Batch> probe = randomBatches(dev);
            LayerProbe prober = new LayerProbe(model);
            prober.probe(probe.subList(0, 1), null);  // warm up allocator and JIT
            double[] cachedSeconds = new double[rounds];
            double[] plainSeconds = new double[rounds];
            LayerImportance cached = null;
            LayerImportance plain = null;
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                cached = prober.probe(probe, null);
                long t1 = System.nanoTime();
                plain = prober.probePlain(probe);
                long t2 = System.nanoTime();
                cachedSeconds[r] = (t1 - t0) / 1e9;
                plainSeconds[r] = (t2 - t1) / 1e9;
                System.out.printf("  round %d: cached %.2f s, plain %.2f s%n", r + 1, cachedSeconds[r], plainSeconds[r]);
            }
            double maxDifference = 0;
            for (int l = 0; l < layers; l++) maxDifference = Math.max(maxDifference, Math.abs(cached.deltas()[l] - plain.deltas()[l]));
            double c = BenchSupport.median(java.util.Arrays.stream(cachedSeconds).boxed().toList());
            double p = BenchSupport.median(java.util.Arrays.stream(plainSeconds).boxed().toList());
            System.out.printf("%ncached probing  %8.2f s (median)%nplain M+1 passes %7.2f s (median)%nratio cached/plain %.3f  target <= 0.6  %s%n",
                    c, p, c / p, c / p <= 0.6 ? "PASS" : "MISS");
            System.out.printf("peak RSS MiB (VmHWM, this process: both ways) %.0f%n", BenchSupport.peakRssMb());
            System.out.printf("max |dL cached - dL plain| = %.2e over %d layers (base loss %.4f)%n", maxDifference, layers, cached.baseLoss());
            System.out.printf("layer passes per batch: cached M + M(M-1)/2 = %d, plain M + M(M-1) = %d (%.3f); both add M+1 LM-head passes%n",
                    layers + layers * (layers - 1) / 2, layers + layers * (layers - 1),
                    (double) (layers + layers * (layers - 1) / 2) / (layers + layers * (layers - 1)));
            return 0;
        }
    }

    private List<Batch> randomBatches(Device dev) {
        Random random = new Random(1);
        List<Batch> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            List<Example> rows = new ArrayList<>();
            for (int r = 0; r < batchSize; r++) {
                long[] ids = new long[seq];
                for (int t = 0; t < seq; t++) ids[t] = 1 + random.nextInt(vocab - 1);
                boolean[] targets = new boolean[seq];
                Arrays.fill(targets, 1, seq, true);
                rows.add(new Example(ids, targets, r));
            }
            out.add(Batch.of(rows, 0, dev));
        }
        return out;
    }
}
