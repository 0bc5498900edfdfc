package adept.bench;

import adept.parallel.DistEnvironment;
import adept.parallel.DistException;
import adept.parallel.GradientBuckets;
import adept.parallel.LocalLauncher;
import adept.parallel.OverlappedGradientReducer;
import adept.parallel.ProcessGroup;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.FlatGradient;
import adept.optim.GradientSource;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Data-parallel throughput: training steps (forward, cross-entropy, backward, gradient all-reduce, AdamW) of a
 * small random Llama with a global batch, in one process, then as N local ranks over Gloo on loopback with
 * batch / N each (LocalLauncher, as adept train --nproc), and the bytes all-reduced per step. The cores are
 * shared out: each rank gets cores / N intra-op threads, the one process all of them. On a machine with few
 * cores N ranks can only lose (the same arithmetic plus the all-reduce); the figure is reported as measured.
 */
@Command(name = "dist", mixinStandardHelpOptions = true,
        description = {"Data-parallel training throughput: 1 process with the global batch vs N local ranks (Gloo, loopback) "
                + "with batch/N each, and the gradient bytes all-reduced per step."})
public final class BenchDistCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private static final String WHO = "adept bench dist";

    @Option(names = "--nproc", defaultValue = "2", description = "ranks to compare with one process (default: ${DEFAULT-VALUE})")
    int nproc;
    @Option(names = "--steps", defaultValue = "6", description = "timed steps (default: ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--warmup", defaultValue = "2", description = "untimed steps first (default: ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--batch", defaultValue = "8", description = "global batch, sequences (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--seq", defaultValue = "128", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
    int seq;
    @Option(names = "--vocab", defaultValue = "4096", description = "vocabulary size (default: ${DEFAULT-VALUE})")
    int vocab;
    @Option(names = "--hidden", defaultValue = "256", description = "hidden size (default: ${DEFAULT-VALUE})")
    int hidden;
    @Option(names = "--layers", defaultValue = "4", description = "decoder layers (default: ${DEFAULT-VALUE})")
    int layers;
    @Option(names = "--heads", defaultValue = "8", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads;
    @Option(names = "--kv-heads", defaultValue = "4", description = "key/value heads (default: ${DEFAULT-VALUE})")
    int kvHeads;
    @Option(names = "--intermediate", defaultValue = "688", description = "MLP intermediate size (default: ${DEFAULT-VALUE})")
    int intermediate;
    @Option(names = "--overlap", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "ranks all-reduce gradient buckets while backward runs (as adept train); --no-overlap: after backward (default: ${DEFAULT-VALUE})")
    boolean overlap;
    @Option(names = "--worker-result", hidden = true, paramLabel = "FILE", description = "internal: run as a rank; rank 0 writes its timing here")
    Path workerResult;

    record Measured(double medianStepSeconds, double medianAllReduceSeconds, long bytesPerStep, int threads) {}

    @Override
    public Integer call() throws Exception {
        if (nproc < 1 || steps < 1 || warmup < 0 || batch < 1 || batch % nproc != 0) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "need --nproc >= 1, --steps >= 1, --warmup >= 0 and a --batch that splits evenly over --nproc");
        }
        if (workerResult != null) return worker();
        int cores = Runtime.getRuntime().availableProcessors();
        ModelConfig config = ModelShape.llama(vocab, hidden, intermediate, layers, heads, kvHeads, seq);
        long parameters = config.tensorShapes().values().stream().mapToLong(s -> Arrays.stream(s).reduce(1, Math::multiplyExact)).sum();
        System.out.printf(Locale.ROOT, "%s: %,d parameters (fp32), global batch %d x %d tokens, %d timed steps after %d, %d cores%n", WHO,
                parameters, batch, seq, steps, warmup, cores);
        Measured one = measure(null, cores);
        Path result = Files.createTempFile("adept-bench-dist", ".txt");
        try {
            List<String> args = new ArrayList<>(List.of("bench", "dist", "--nproc", Integer.toString(nproc), "--steps", Integer.toString(steps),
                    "--warmup", Integer.toString(warmup), "--batch", Integer.toString(batch), "--seq", Integer.toString(seq), "--vocab",
                    Integer.toString(vocab), "--hidden", Integer.toString(hidden), "--layers", Integer.toString(layers), "--heads",
                    Integer.toString(heads), "--kv-heads", Integer.toString(kvHeads), "--intermediate", Integer.toString(intermediate),
                    overlap ? "--overlap" : "--no-overlap", "--worker-result", result.toString()));
            int code = LocalLauncher.run(nproc, spec.root().userObject().getClass().getName(), args);  // the adept command line
            if (code != 0) throw new DistException(WHO + ": the " + nproc + "-rank run failed (exit " + code + ")");
            String[] f = Files.readString(result).trim().split(" ");
            Measured many = new Measured(Double.parseDouble(f[0]), Double.parseDouble(f[1]), Long.parseLong(f[2]), Integer.parseInt(f[3]));
            double tokens = (double) batch * seq;
            long bucketBytes = GradientBuckets.bucketBytes(System.getenv());
            System.out.printf(Locale.ROOT, "all-reduced per step: %,d bytes (%.1f MiB: every trainable tensor's gradient, fp32) in buckets of at most %,d bytes (%s), %s: %.1f ms on rank 0 %s%n",
                    many.bytesPerStep(), many.bytesPerStep() / 1048576.0, bucketBytes, GradientBuckets.BUCKET_BYTES_VARIABLE,
                    overlap ? "overlapped with backward" : "after backward",
                    many.medianAllReduceSeconds() * 1e3, overlap ? "waiting for it after backward (finish)" : "(waiting for the other ranks included)");
            System.out.printf(Locale.ROOT, "1 process   (%d threads):          %8.1f ms/step  %,10.0f tokens/s%n", one.threads(),
                    one.medianStepSeconds() * 1e3, tokens / one.medianStepSeconds());
            System.out.printf(Locale.ROOT, "%d processes (%d thread%s each, Gloo): %8.1f ms/step  %,10.0f tokens/s  (%.2fx the 1-process throughput)%n",
                    nproc, many.threads(), many.threads() == 1 ? "" : "s", many.medianStepSeconds() * 1e3, tokens / many.medianStepSeconds(),
                    one.medianStepSeconds() / many.medianStepSeconds());
            return 0;
        } finally {
            Files.deleteIfExists(result);
        }
    }

    private int worker() throws IOException {
        DistEnvironment env = DistEnvironment.current().orElseThrow(() -> new DistException("--worker-result runs only as a rank of adept's launcher"));
        int cores = Runtime.getRuntime().availableProcessors();
        try (ProcessGroup group = ProcessGroup.join(env, Device.CPU)) {
            Measured m = measure(group, Math.max(1, cores / group.size()));
            if (group.rank() == 0) {
                Files.writeString(workerResult, m.medianStepSeconds() + " " + m.medianAllReduceSeconds() + " " + m.bytesPerStep() + " " + m.threads() + "\n");
            }
        }
        return 0;
    }

    /** The adept train setup: the parameters (all decayed: AdamW's order is the model's) reduced into the views of AdamW's flat gradient. */
    private static OverlappedGradientReducer overlapped(ProcessGroup group, AdamW adam) {
        try (Scope scope = Scope.open()) {
            List<Tensor> tensors = new ArrayList<>();
            List<Tensor> views = new ArrayList<>();
            for (int i = 0; i < adam.parameters().size(); i++) {
                tensors.add(adam.parameters().get(i).tensor());
                views.add(adam.flatGradient().view(i));
            }
            return OverlappedGradientReducer.create(group, tensors, views, GradientBuckets.bucketBytes(System.getenv()));
        }
    }

    /** A training step whose all-reduce runs once backward is done (the flat gradient in buckets); returns the all-reduce's seconds. */
    private static double bucketedStep(CausalLM model, AdamW adam, Tensor ids, GradientBuckets buckets) {
        try (Scope scope = Scope.open()) {
            Tensor loss = CausalLM.loss(model.forward(ids, null), ids);
            loss.backward();
            FlatGradient gradient = adam.flatGradient();
            gradient.collect();
            long t0 = System.nanoTime();
            buckets.averageInPlace(gradient.tensor());
            double seconds = (System.nanoTime() - t0) / 1e9;
            adam.step(1e-4, GradientSource.FLAT_BUFFER);
            adam.zeroGrad();
            loss.item();
            return seconds;
        }
    }

    /** A training step whose all-reduce runs during backward; returns the seconds finish waited for it after backward. */
    private static double overlappedStep(CausalLM model, AdamW adam, Tensor ids, OverlappedGradientReducer reducer) {
        try (Scope scope = Scope.open()) {
            Tensor loss = CausalLM.loss(model.forward(ids, null), ids);
            reducer.prepare(true);
            loss.backward();
            long t0 = System.nanoTime();
            reducer.finish();
            double waited = (System.nanoTime() - t0) / 1e9;
            adam.step(1e-4, GradientSource.FLAT_BUFFER);
            adam.zeroGrad();
            loss.item();
            return waited;
        }
    }

    /** Median wall time of a step on this rank (group null: one process with the whole batch). */
    private Measured measure(ProcessGroup group, int threads) {
        Torch.setNumThreads(threads);
        int rank = group == null ? 0 : group.rank();
        int ranks = group == null ? 1 : group.size();
        int rows = batch / ranks;
        long[] ids = new long[rows * seq];
        Random random = new Random(7 + rank);
        for (int i = 0; i < ids.length; i++) ids[i] = random.nextInt(vocab);
        try (Scope scope = Scope.open();
             CausalLM model = CausalLM.random(ModelShape.llama(vocab, hidden, intermediate, layers, heads, kvHeads, seq), 1234, 0.02, DType.FLOAT32, Device.CPU)) {
            List<Tensor> params = new ArrayList<>(model.namedParameters().values());
            for (Tensor p : params) p.requiresGrad(true);
            Tensor input = Tensor.of(ids, rows, seq);
            try (AdamW adam = AdamW.of(params, 0.1);
                 OverlappedGradientReducer reducer = group == null || !overlap ? null : overlapped(group, adam)) {
                GradientBuckets buckets = group == null || overlap ? null : new GradientBuckets(group, GradientBuckets.bucketBytes(System.getenv()));
                double[] times = new double[steps];
                double[] reduces = new double[steps];
                for (int i = 0; i < warmup + steps; i++) {
                    long t0 = System.nanoTime();
                    double reduceSeconds = 0;
                    if (reducer != null) reduceSeconds = overlappedStep(model, adam, input, reducer);
                    else if (buckets != null) reduceSeconds = bucketedStep(model, adam, input, buckets);
                    else BenchTrainCommand.step(model, adam, input, null);
                    if (i >= warmup) {
                        times[i - warmup] = (System.nanoTime() - t0) / 1e9;
                        reduces[i - warmup] = reduceSeconds;
                    }
                }
                Arrays.sort(times);
                Arrays.sort(reduces);
                return new Measured(times[steps / 2], reduces[steps / 2], adam.trainableElements() * DType.FLOAT32.byteSize(), threads);
            }
        }
    }
}
