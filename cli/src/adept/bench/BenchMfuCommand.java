package adept.bench;

import static adept.bench.BenchSupport.median;

import adept.expand.LayerExpansion;
import adept.nn.Architecture;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.optim.AdamW;
import adept.optim.AdamWSettings;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import adept.tune.Granularity;
import adept.tune.RatePolicy;
import adept.tune.UnitRates;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Throughput and model FLOPs utilisation of an ADEPT stage-2 training step (only the K copies train) on a
 * model of a real LLM's shape with random weights, on the CPU or a GPU, in float32 or bfloat16 (frozen
 * layers bf16, copies with fp32 master weights and moments, fp32 loss), against the same step in PyTorch
 * eager (tools/bench/mfu_reference.py) measured in the same run with interleaved rounds.
 */
@Command(name = "mfu", mixinStandardHelpOptions = true,
        description = {"ADEPT stage-2 training step of a model of a real LLM's shape (random weights, K identity copies train), "
                + "tokens/s and model FLOPs utilisation, adept vs PyTorch eager, measured in the same run with interleaved rounds.",
                "Model FLOPs per step: forward 2 x tokens x every matmul weight + causal attention; backward: input gradients "
                        + "from the first copy up and the head (the same again, attention twice), weight gradients of the copies only.",
                "Targets (GPU): adept/PyTorch step time <= 1.0 and MFU >= 40%% of --peak-tflops."})
public final class BenchMfuCommand implements Callable<Integer> {
    private static final String WHO = "adept bench mfu";
    static final double MFU_TARGET = 0.40;

    /** A model shape: a real model's sizes with Llama layers and an untied head. */
    record Shape(String name, int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads) {
        int headDim() {
            return hidden / heads;
        }

        /** Weights of the matrix products of one decoder layer. */
        long layerMatmulWeights() {
            long q = (long) heads * headDim();
            long kv = (long) kvHeads * headDim();
            return hidden * q + 2L * hidden * kv + q * hidden + 3L * hidden * intermediate;
        }
    }

    static final List<Shape> SHAPES = List.of(
            new Shape("tiny", 8192, 256, 688, 6, 8, 4),
            new Shape("qwen2.5-0.5b", 151936, 896, 4864, 24, 14, 2),
            new Shape("qwen3-1.7b", 151936, 2048, 6144, 28, 16, 8),
            new Shape("llama3-8b", 128256, 4096, 14336, 32, 32, 8));

    @Option(names = "--shape", defaultValue = "auto", description = "tiny, qwen2.5-0.5b, qwen3-1.7b or llama3-8b; auto: qwen2.5-0.5b on a GPU, tiny on the CPU (default: ${DEFAULT-VALUE})")
    String shapeName;

    @Mixin
    adept.cli.DeviceOption deviceOption;

    @Option(names = "--dtype", defaultValue = "auto", description = "float32 or bfloat16; auto: bfloat16 on a GPU, float32 on the CPU (default: ${DEFAULT-VALUE})")
    String dtypeName;

    @Option(names = "--copies", description = "K: the top K layers get an identity copy; only the copies train (default: an eighth of the layers, at least 1)")
    Integer copies;

    @Option(names = "--batch", description = "sequences per step (default: 4)")
    Integer batch;

    @Option(names = "--seq", description = "tokens per sequence (default: 2048 on a GPU, 128 on the CPU)")
    Integer seq;

    @Option(names = "--steps", defaultValue = "5", description = "timed steps per side per round (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--rounds", defaultValue = "3", description = "interleaved rounds (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--warmup", defaultValue = "2", description = "untimed steps per side first (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--peak-tflops", description = "the device's peak for the dtype, for MFU (H100/H200 SXM bf16 dense: 989); "
            + "default: the best matrix product measured here in this run")
    Double peakTflops;

    @Option(names = "--lr", defaultValue = "1e-4", description = "base learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--seed", defaultValue = "1234", description = "weights, tokens and rates seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Mixin
    PythonReference.Options reference;

    @Override
    public Integer call() throws Exception {
        try {
            return measure();
        } catch (PythonReference.SetupException e) {
            System.err.println(e.getMessage());
            return 2;
        }
    }

    /** Model FLOPs of one step: see the command's description. */
    static double modelFlops(Shape s, int copies, long batch, long seq) {
        long tokens = batch * seq;
        int all = s.layers() + copies;
        int recorded = 2 * copies - 1;  // from the first copy up: it, then the other top originals and their copies
        double layer = 2.0 * tokens * s.layerMatmulWeights();
        double head = 2.0 * tokens * s.hidden() * (double) s.vocab();
        double attention = 2.0 * batch * seq * seq * s.heads() * s.headDim();  // QK^T and AV, causal half of 4 b t^2 h d
        double forward = all * (layer + attention) + head;
        double inputGradients = recorded * (layer + 2 * attention) + head;
        double weightGradients = copies * layer;
        return forward + inputGradients + weightGradients;
    }

    private int measure() throws Exception {
        Device device = deviceOption.device();
        boolean gpu = device.isCuda();
        String shapeKey = shapeName.equals("auto") ? (gpu ? "qwen2.5-0.5b" : "tiny") : shapeName;
        Shape shape = SHAPES.stream().filter(s -> s.name().equals(shapeKey)).findFirst().orElse(null);
        if (shape == null) {
            System.err.println(WHO + ": unknown --shape " + shapeName + " (expected " + SHAPES.stream().map(Shape::name).toList() + " or auto)");
            return 2;
        }
        String dtypeKey = dtypeName.equals("auto") ? (gpu ? "bfloat16" : "float32") : dtypeName;
        if (!dtypeKey.equals("float32") && !dtypeKey.equals("bfloat16")) {
            System.err.println(WHO + ": --dtype must be float32, bfloat16 or auto, got " + dtypeName);
            return 2;
        }
        DType dtype = DType.parse(dtypeKey);
        int k = copies != null ? copies : Math.max(1, shape.layers() / 8);
        int b = batch != null ? batch : 4;
        int t = seq != null ? seq : (gpu ? 2048 : 128);
        if (k < 1 || k > shape.layers() || b < 1 || t < 2 || steps < 1 || rounds < 1 || warmup < 0) {
            System.err.println(WHO + ": --copies must be in 1.." + shape.layers() + ", --batch, --steps, --rounds >= 1, --seq >= 2, --warmup >= 0");
            return 2;
        }
        if (gpu && (!Torch.cudaAvailable() || device.index() >= Torch.cudaDeviceCount())) {
            System.err.println(WHO + ": " + device + " is not available (CUDA devices: " + (Torch.cudaAvailable() ? Torch.cudaDeviceCount() : 0) + ")");
            return 2;
        }
        int threads = reference.threadCount();
        Torch.setNumThreads(threads);
        Path script = PythonReference.findScript(WHO, "mfu_reference.py");
        List<String> pyArgs = new ArrayList<>(List.of("--device", device.toString(), "--dtype", dtypeKey, "--batch", Integer.toString(b),
                "--seq", Integer.toString(t), "--vocab", Integer.toString(shape.vocab()), "--hidden", Integer.toString(shape.hidden()),
                "--intermediate", Integer.toString(shape.intermediate()), "--layers", Integer.toString(shape.layers()),
                "--heads", Integer.toString(shape.heads()), "--kv-heads", Integer.toString(shape.kvHeads()), "--copies", Integer.toString(k),
                "--warmup", Integer.toString(warmup), "--lr", Double.toString(lr), "--seed", Long.toString(seed)));
        double flops = modelFlops(shape, k, b, t);
        System.err.printf(Locale.ROOT, "%s: %s-shaped model (%d + %d layers, hidden %d, vocab %d), %s on %s, batch %d x %d; starting PyTorch...%n",
                WHO, shape.name(), shape.layers(), k, shape.hidden(), shape.vocab(), dtypeKey, device, b, t);
        ModelConfig config = ModelConfig.builder(Architecture.LLAMA).vocabSize(shape.vocab()).hiddenSize(shape.hidden())
                .intermediateSize(shape.intermediate()).numHiddenLayers(shape.layers()).numAttentionHeads(shape.heads())
                .numKeyValueHeads(shape.kvHeads()).headDim(shape.headDim()).maxPositionEmbeddings(Math.max(t, 64)).build();
        try (PythonReference py = PythonReference.start(WHO, reference.python, script, threads, pyArgs);
             CausalLM model = CausalLM.random(config, seed, 0.02, dtype, device);
             Scope data = Scope.open()) {
            List<Integer> sources = new ArrayList<>();
            for (int l = shape.layers() - k; l < shape.layers(); l++) sources.add(l);
            List<String> trainable = LayerExpansion.apply(model, LayerExpansion.explicit(shape.layers(), sources));
            try (DecoupledTuning tuning = new DecoupledTuning(model, trainable, Granularity.TENSOR, RatePolicy.CONTINUOUS, AdamW.factory(AdamWSettings.DEFAULT), true)) {
                Random random = new Random(seed);
                double[] importance = new double[tuning.units().size()];
                for (int u = 0; u < importance.length; u++) importance[u] = random.nextDouble();
                UnitRates.apply(tuning.optimizer(), tuning.units(), RatePolicy.CONTINUOUS.assign(importance));
                long[] tokens = new long[b * t];
                for (int i = 0; i < tokens.length; i++) tokens[i] = random.nextInt(shape.vocab());
                Tensor ids = Tensor.of(tokens, b, t).to(device);
                for (int i = 0; i < warmup; i++) step(tuning, ids);
                sync(device);
                double peak = peakTflops != null ? peakTflops : measuredPeakTflops(dtype, device);
                List<Double> ours = new ArrayList<>();
                List<Double> theirs = new ArrayList<>();
                String memory = null;
                for (int r = 0; r < rounds; r++) {
                    for (int side = 0; side < 2; side++) {
                        if ((side == 0) == (r % 2 == 0)) {
                            sync(device);
                            long t0 = System.nanoTime();
                            for (int i = 0; i < steps; i++) step(tuning, ids);
                            sync(device);
                            ours.add((System.nanoTime() - t0) / 1e6 / steps);
                        } else {
                            String answer = py.request(Integer.toString(steps));
                            theirs.addAll(PythonReference.numbers(answer, "step_ms"));
                            memory = PythonReference.value(answer, "max_memory_mib");
                        }
                    }
                }
                report(shape, k, b, t, dtypeKey, device, tuning, flops, peak, ours, theirs, memory, py);
            }
        }
        return 0;
    }

    /** One training step as the trainer takes it (no value read back). */
    private void step(DecoupledTuning tuning, Tensor ids) {
        try (Scope scope = Scope.open()) {
            tuning.loss(ids).backward();
            tuning.step(lr);
        }
    }

    private static void sync(Device device) {
        if (device.isCuda()) Torch.cudaSynchronize(device);
    }

    /** The best of a few large square matrix products in dtype on device, in TFLOP/s (the denominator when no --peak-tflops). */
    static double measuredPeakTflops(DType dtype, Device device) {
        int n = device.isCuda() ? 8192 : 1024;
        int reps = device.isCuda() ? 20 : 4;
        double best = 0;
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            Tensor a = Tensor.randn(dtype, device, n, n);
            Tensor c = Tensor.randn(dtype, device, n, n);
            for (int trial = 0; trial < 3; trial++) {
                sync(device);
                long t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    try (Scope s = Scope.open()) {
                        a.matmul(c);
                    }
                }
                sync(device);
                best = Math.max(best, 2.0 * n * n * n * reps / ((System.nanoTime() - t0) / 1e9) / 1e12);
            }
        }
        return best;
    }

    private void report(Shape shape, int k, int b, int t, String dtype, Device device, DecoupledTuning tuning, double flops, double peak,
                        List<Double> ours, List<Double> theirs, String pyMemory, PythonReference py) {
        double a = median(ours);
        double p = median(theirs);
        long tokens = (long) b * t;
        double mfuOurs = flops / (a / 1e3) / 1e12 / peak;
        double mfuTheirs = flops / (p / 1e3) / 1e12 / peak;
        System.out.printf(Locale.ROOT, "%s: %s-shaped model, %d layers + %d copies, %s on %s, batch %d x %d = %,d tokens per step%n",
                WHO, shape.name(), shape.layers(), k, dtype, device, b, t, tokens);
        System.out.printf(Locale.ROOT, "  trainable %,d parameters; model FLOPs per step %.3g; peak %.3g TFLOP/s (%s)%n",
                tuning.trainableParameters(), flops, peak, peakTflops != null ? "--peak-tflops" : "best matrix product measured here");
        System.out.println("  adept:   " + BenchSupport.adeptEnvironment());
        System.out.println("  PyTorch: " + py.describe() + ", " + PythonReference.value(py.ready, "optimizer") + " AdamW, sdpa "
                + PythonReference.value(py.ready, "sdpa"));
        System.out.printf(Locale.ROOT, "  %-8s %10s %12s %8s%n", "", "ms/step", "tokens/s", "MFU");
        System.out.printf(Locale.ROOT, "  %-8s %10.1f %,12.0f %7.1f%%   (%d samples, %s)%n", "adept", a, tokens / (a / 1e3), 100 * mfuOurs,
                ours.size(), BenchSupport.range(ours, 1));
        System.out.printf(Locale.ROOT, "  %-8s %10.1f %,12.0f %7.1f%%   (%d samples, %s)%n", "PyTorch", p, tokens / (p / 1e3), 100 * mfuTheirs,
                theirs.size(), BenchSupport.range(theirs, 1));
        if (device.isCuda()) {
            System.out.printf(Locale.ROOT, "  peak memory: adept %.0f MiB, PyTorch %s MiB%n", Torch.cudaMaxMemoryAllocated(device) / 1048576.0,
                    pyMemory == null ? "?" : String.format(Locale.ROOT, "%.0f", Double.parseDouble(pyMemory)));
        }
        System.out.printf(Locale.ROOT, "  step time adept/PyTorch %.2f (target <= 1.0: %s); adept MFU %.1f%% (target >= %.0f%%%s: %s)%n", a / p,
                a / p <= 1.0 ? "PASS" : "FAIL", 100 * mfuOurs, 100 * MFU_TARGET, device.isCuda() ? "" : ", a GPU target",
                mfuOurs >= MFU_TARGET ? "PASS" : "FAIL");
    }
}
